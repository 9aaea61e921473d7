"""Verdicts on what an endpoint said before login: ``tcp.connect``, ``stream.*``, ``sasl.*``,
``s2s.*``, from a ``StreamProbe`` that ``xiot.probes.stream`` recorded.

Judging is kept apart from the negotiation so that cases a real server cannot be made to
produce (PLAIN before TLS, compression, no STARTTLS) are tested from recorded features.
``warn`` marks what needs action; hardening advice is a ``note``.
"""

from __future__ import annotations

from typing import Any

from xiot.probes.report import Check, Status
from xiot.probes.stream import Features, StreamHeader, StreamProbe

# -- checks --------------------------------------------------------------------------------


def stream_checks(probe: StreamProbe) -> tuple[Check, ...]:
    """Judge one endpoint's stream: ``tcp.connect``, ``stream.*``, ``sasl.*``, ``s2s.*``.

    TLS facts are judged by ``xiot.probes.tls.tls_checks``.  Checks for phases the probe
    never reached are left out, so a closed port reads as one failing ``tcp.connect``.
    """
    checks: list[Check] = []
    label = probe.label

    def add(check_id: str, status: Status, message: str, elapsed: float | None = None,
            **details: Any) -> None:
        checks.append(Check(probe.domain, check_id, status, elapsed, message, label, details))

    if probe.error_phase == "tcp":
        add("tcp.connect", "fail", f"cannot connect: {probe.error}")
        return tuple(checks)
    add("tcp.connect", "ok", "connected", probe.connect_ms)
    if not probe.endpoint.direct_tls:
        _opening_checks(probe, add)
    if probe.error_phase not in ("stream", "starttls", "tls"):
        _after_tls_checks(probe, add)
    return tuple(checks)


def _opening_checks(probe: StreamProbe, add: Any) -> None:
    """``stream.open``, ``stream.starttls`` and ``sasl.before-tls`` (STARTTLS endpoints)."""
    header, features = probe.header_before, probe.features_before
    if header is None or (probe.error_phase == "stream" and features is None):
        what = f"stream error {probe.stream_error}" if probe.stream_error else probe.error
        add("stream.open", "fail", f"no usable stream: {what}", probe.timings.get("stream"),
            condition=probe.stream_error.condition if probe.stream_error else None)
        return
    status, message = judge_header(header, probe.domain)
    add("stream.open", status, message, probe.timings.get("stream"), **_header_details(header))
    assert features is not None
    names = list(features.names)
    if not features.starttls:
        add("stream.starttls", "fail", "STARTTLS not offered: the stream cannot be encrypted",
            features=names)
    elif probe.error_phase == "starttls":
        add("stream.starttls", "fail", f"STARTTLS failed: {probe.error}", features=names)
    elif features.starttls_required:
        add("stream.starttls", "ok", "STARTTLS offered and required",
            probe.timings.get("starttls"), features=names)
    else:
        add("stream.starttls", "warn", "STARTTLS offered but not required: clients may stay "
            "in plaintext", probe.timings.get("starttls"), features=names)
    status, message = judge_pre_tls_features(features)
    add("sasl.before-tls", status, message, mechanisms=list(features.mechanisms),
        register="register" in features.names)


def _after_tls_checks(probe: StreamProbe, add: Any) -> None:
    header, features = probe.header_after, probe.features_after
    if header is None or features is None:
        what = f"stream error {probe.stream_error}" if probe.stream_error else probe.error
        add("stream.features", "fail", f"no stream after TLS: {what}",
            probe.timings.get("features"),
            condition=probe.stream_error.condition if probe.stream_error else None)
        return
    if probe.endpoint.direct_tls:
        status, message = judge_header(header, probe.domain)
        add("stream.open", status, message, None, **_header_details(header))
    add("stream.features", "ok" if features.names else "warn",
        "features after TLS: " + (", ".join(features.names) or "none"),
        probe.timings.get("features"), features=list(features.names), raw=features.raw)
    tls_version = probe.tls.version if probe.tls else None
    if probe.kind == "client":
        status, message = judge_mechanisms(features, tls_version)
        add("sasl.mechanisms", status, message, mechanisms=list(features.mechanisms),
            channel_bindings=list(features.channel_bindings))
        if offers_sm(features.names):
            # Servers normally offer it only after authentication (judged with --login, by
            # the runner); one that offers it earlier has certainly got it.
            add("stream.sm", "ok", "stream management (XEP-0198) offered before login")
    else:
        status, message = judge_s2s(features)
        add("s2s.auth", status, message, mechanisms=list(features.mechanisms),
            dialback=features.has("dialback"))
    status, message = judge_compression(features, probe.tls.compression if probe.tls else None)
    add("stream.compression", status, message, methods=list(features.compression))


def _header_details(header: StreamHeader) -> dict[str, Any]:
    return {"from": header.from_, "version": header.version, "id": header.id,
            "lang": header.lang}


def offers_sm(names: tuple[str, ...] | list[str]) -> bool:
    """Whether stream features (by friendly name) include stream management (XEP-0198)."""
    return "sm" in names or "sm2" in names


def judge_sm_after_login(names: tuple[str, ...] | list[str]) -> tuple[Status, str]:
    """Stream management after authentication: advice, since XMPP works without it."""
    if offers_sm(names):
        return "ok", "stream management (XEP-0198) offered after login"
    return "note", ("no stream management (XEP-0198) after login: devices on flaky links "
                    "may lose stanzas (Prosody: enable mod_smacks)")


def judge_header(header: StreamHeader, domain: str) -> tuple[Status, str]:
    """A stream header must come from the domain asked for and speak version 1.0."""
    problems = []
    if (header.from_ or "").lower() != domain.lower():
        problems.append(f"from={header.from_!r}, expected {domain!r}")
    if header.version != "1.0":
        problems.append(f"version={header.version!r}, expected '1.0' (RFC 6120)")
    if problems:
        return "warn", "stream header: " + "; ".join(problems)
    return "ok", f"stream opened: from={header.from_}, version={header.version}"


def judge_pre_tls_features(features: Features) -> tuple[Status, str]:
    """Before TLS nothing should be offered that exposes credentials."""
    if "PLAIN" in features.mechanisms:
        return "fail", "SASL PLAIN offered before TLS: passwords can travel in cleartext"
    if features.mechanisms:
        return "warn", ("SASL offered before TLS: " + ", ".join(features.mechanisms)
                        + " (offer authentication only after TLS)")
    if features.has("register"):
        return "warn", "in-band registration offered before TLS"
    return "ok", "no authentication offered before TLS"


def judge_mechanisms(features: Features, tls_version: str | None) -> tuple[Status, str]:
    """SASL after TLS: SCRAM wanted (``warn`` without); ``-PLUS`` (channel binding) with a
    usable type is hardening advice (``note`` without).

    tls-unique is undefined for TLS 1.3 (RFC 9266), so on 1.3 a server that advertises only
    tls-unique cannot bind channels at all.
    """
    mechanisms = features.mechanisms
    if not mechanisms:
        return "fail", "no SASL mechanisms offered after TLS"
    listed = ", ".join(mechanisms)
    if not any(m.startswith("SCRAM-") for m in mechanisms):
        return "warn", f"{listed}: no SCRAM mechanism (passwords reach the server)"
    plus = [m for m in mechanisms if m.endswith("-PLUS")]
    if not plus:
        return "note", (f"{listed}: no SCRAM-*-PLUS, so no channel binding (hardening: it "
                        "stops a man in the middle who holds a trusted certificate)")
    bindings = features.channel_bindings
    if tls_version == "TLSv1.3" and bindings and set(bindings) <= {"tls-unique"}:
        return "note", (f"{listed}: only tls-unique advertised, which TLS 1.3 does not define "
                        "(advertise tls-exporter or tls-server-end-point)")
    shown = f" (channel binding: {', '.join(bindings)})" if bindings else ""
    return "ok", f"{listed}{shown}"


def judge_s2s(features: Features) -> tuple[Status, str]:
    """A server must offer a way for peers to authenticate: dialback or SASL EXTERNAL."""
    ways = (["dialback"] if features.has("dialback") else []) + (
        ["SASL EXTERNAL"] if "EXTERNAL" in features.mechanisms else [])
    if ways:
        return "ok", f"s2s authentication offered: {', '.join(ways)}"
    return "fail", "neither dialback nor SASL EXTERNAL offered: peers cannot authenticate"


def judge_compression(features: Features, tls_compression: str | None) -> tuple[Status, str]:
    """Compression under encryption leaks content (CRIME); it should be absent."""
    used = [f"TLS {tls_compression}"] if tls_compression else []
    used += [f"XEP-0138 {m}" for m in features.compression]
    if used:
        return "fail", f"compression offered ({', '.join(used)}): vulnerable to CRIME-style leaks"
    return "ok", "no TLS or stream compression"
