"""XEP-0323 encoding: catalogue vectors parsed, requests built, fields round-tripped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, time

import pytest

from tests.unit.iot.vectors import S1_FIELDS, S2_FAILURE, S4_FIELDS_A, S4_FIELDS_C, S8_FIELDS, SD
from xiot.iot.model import FIELD_CATEGORIES, QOS_FLAGS, Field, NodeRef, ReadoutRequest
from xiot.iot.sensordata import wire as sd_wire


def payload(message: str, tag: str) -> ET.Element:
    element = ET.fromstring(message).find(f"{{{SD}}}{tag}")
    assert element is not None
    return element


def test_momentary_vector_parses_to_typed_field() -> None:
    fields, problems = sd_wire.parse_fields(payload(S1_FIELDS, "fields"))
    assert problems == []
    (temp,) = fields
    assert (temp.name, temp.type, temp.value, temp.unit) == ("Temperature", "numeric", 23.4, "°C")
    assert temp.node == NodeRef("Device01")
    assert temp.timestamp == datetime(2013, 3, 7, 16, 24, 30)
    assert temp.categories == {"momentary"} and temp.flags == {"automaticReadout"}
    assert temp.decimals == 1 and temp.raw == "23.4"


def test_failure_vector() -> None:
    (error,) = sd_wire.parse_failure(payload(S2_FAILURE, "failure"))
    assert error.node == NodeRef("Device01")
    assert error.message == "Timeout."
    assert error.timestamp == datetime(2013, 3, 7, 17, 13, 30)


def test_erratum_identification_is_read_as_identity() -> None:
    fields, _ = sd_wire.parse_fields(payload(S4_FIELDS_A, "fields"))
    device_id = next(f for f in fields if f.name == "Device ID")
    assert device_id.categories == {"identity"}
    rebuilt = sd_wire.field_to_xml(device_id)
    assert rebuilt.get("identity") == "true" and rebuilt.get("identification") is None


def test_historical_vector_keeps_intersection_of_categories() -> None:
    fields, _ = sd_wire.parse_fields(payload(S4_FIELDS_C, "fields"))
    assert [f.value for f in fields] == [24.5, 25.1, 25.2, 25.2]
    assert fields[-1].categories == {"historicalHour", "historicalDay"}
    assert len({f.timestamp for f in fields}) == 4


def test_localisation_vector_and_string_ids() -> None:
    fields, _ = sd_wire.parse_fields(payload(S8_FIELDS, "fields"))
    table = {1: "Temperature", 2: "%0%, Min", 3: "%0%, Max", 4: "%0%, Mean"}

    def lookup(module: str | None, string_id: int) -> str | None:
        return table.get(string_id) if module == "Whatchamacallit" else None

    names = [
        sd_wire.localise(sd_wire.parse_string_ids(f.string_ids or ""), lookup, f.module)
        for f in fields
    ]
    assert names == [f.name for f in fields]


@pytest.mark.parametrize(
    ("string_ids", "expected"),
    [
        ("1", "Temperature"),
        ("1,2", "Temperature, Max"),
        ("1,1|MathModule", "sum(Temperature)"),
        ("3||A1", "Input A1"),
        ("4||A1,5||3", "Entrance A1, Floor 3"),
    ],
)
def test_string_ids_worked_examples(string_ids: str, expected: str) -> None:
    strings = {
        (None, 1): "Temperature",
        (None, 2): "%0%, Max",
        ("MathModule", 1): "sum(%0%)",
        (None, 3): "Input %1%",
        (None, 4): "Entrance %1%",
        (None, 5): "%0%, Floor %1%",
    }
    steps = sd_wire.parse_string_ids(string_ids)
    assert sd_wire.localise(steps, lambda m, i: strings.get((m, i))) == expected


def test_string_ids_reject_garbage() -> None:
    with pytest.raises(ValueError):
        sd_wire.parse_string_ids("x,2")


def test_build_req_momentary_and_parse_back() -> None:
    req = ET.Element(f"{{{SD}}}req")
    sd_wire.build_req(req, 1, ReadoutRequest(categories={"momentary"}))
    assert req.attrib == {"seqnr": "1", "momentary": "true"}
    seqnr, parsed = sd_wire.parse_req(req)
    assert seqnr == 1 and parsed.categories == {"momentary"}


def test_build_req_full_round_trip() -> None:
    request = ReadoutRequest(
        fields={"Energy", "Power"},
        categories={"momentary", "historical"},
        from_="2013-03-01T00:00:00",
        to="2013-03-07T00:00:00",
        nodes=[NodeRef("Device04", "MeteringTopology", "Node")],
        tokens={"serviceToken": "SERVICETOKEN1 SERVICETOKEN2"},
    )
    req = sd_wire.build_req(ET.Element(f"{{{SD}}}req"), 6, request)
    assert req.get("historical") == "true" and req.get("historicalDay") is None
    assert req.get("from") == "2013-03-01T00:00:00"
    seqnr, parsed = sd_wire.parse_req(req)
    assert seqnr == 6
    assert parsed == request


def test_empty_categories_request_everything() -> None:
    req = sd_wire.build_req(ET.Element(f"{{{SD}}}req"), 9, ReadoutRequest())
    assert req.get("all") == "true"
    assert sd_wire.parse_req(req)[1].categories == frozenset(FIELD_CATEGORIES)


def test_parse_req_rejects_malformed() -> None:
    with pytest.raises(ValueError):
        sd_wire.parse_req(ET.fromstring(f"<req xmlns='{SD}' momentary='true'/>"))
    with pytest.raises(ValueError):
        sd_wire.parse_req(ET.fromstring(f"<req xmlns='{SD}' seqnr='1' from='soon'/>"))


ALL_TYPES = [
    Field("N", "numeric", 12345.67, unit="MWh", decimals=2),
    Field("S", "string", "Temperature: 21.4 °C"),
    Field("B", "boolean", True),
    Field("D", "date", date(2013, 5, 1)),
    Field("DT", "dateTime", datetime(2013, 4, 2, 8, 0)),
    Field("DUR", "duration", "PT3M30S"),
    Field("E", "enum", "Heating", data_type="Mode"),
    Field("I", "int", -5),
    Field("L", "long", 500000000000000),
    Field("T", "time", time(8, 0)),
]


def test_every_type_every_flag_round_trips() -> None:
    stamp = datetime(2013, 3, 7, 19, 0)
    originals = [
        Field(
            f.name,
            f.type,
            f.value,
            "Device01",
            stamp,
            unit=f.unit,
            decimals=f.decimals,
            data_type=f.data_type,
            categories={FIELD_CATEGORIES[i]},
            flags={QOS_FLAGS[i]},
            writable=bool(i % 2),
        )
        for i, f in enumerate(ALL_TYPES)
    ]
    originals.append(
        Field("Q", "numeric", 1.0, "Device01", stamp, unit="", decimals=0, flags=set(QOS_FLAGS))
    )
    element = sd_wire.build_fields(ET.Element(f"{{{SD}}}fields"), originals, NodeRef("unused"))
    parsed, problems = sd_wire.parse_fields(ET.fromstring(ET.tostring(element)))
    assert problems == []
    for before, after in zip(originals, parsed, strict=True):
        assert (after.name, after.type, after.value) == (before.name, before.type, before.value)
        assert (after.categories, after.flags, after.writable) == (
            before.categories,
            before.flags,
            before.writable,
        )
    assert parsed[0].raw == "12345.67" and parsed[-1].raw == "1"


def test_precision_is_preserved() -> None:
    element = sd_wire.field_to_xml(Field("T", "numeric", 10.0, decimals=2, unit="°C"))
    assert element.get("value") == "10.00"
    parsed = sd_wire.field_from_xml(element, None, None)
    assert parsed.decimals == 2 and parsed.lexical == "10.00"


def test_legacy_and_tolerant_forms() -> None:
    xml = f"""
    <fields xmlns='{SD}' seqnr='1' done='1'>
      <node nodeId='Old'>
        <timestamp value='2013-03-07T16:24:30'>
          <timeSpan name='Uptime' value='P1DT2H' status='1'/>
          <numeric name='Ratio' value='0.5' momentary='true'/>
          <boolean name='On' value='1'/>
        </timestamp>
      </node>
      <timestamp value='2013-03-07T16:24:31'><int name='Loose' value='3'/></timestamp>
    </fields>"""
    fields, problems = sd_wire.parse_fields(ET.fromstring(xml))
    assert problems == []
    by_name = {f.name: f for f in fields}
    assert by_name["Uptime"].type == "duration" and by_name["Uptime"].categories == {"status"}
    assert by_name["Ratio"].unit is None
    assert by_name["On"].value is True
    assert by_name["Loose"].node is None
    assert sd_wire.field_to_xml(by_name["Uptime"]).tag == f"{{{SD}}}duration"
    assert sd_wire.field_to_xml(by_name["Ratio"]).get("unit") == ""


def test_bad_values_are_reported_not_fatal() -> None:
    xml = f"""
    <fields xmlns='{SD}' seqnr='1'>
      <node nodeId='D'>
        <timestamp value='2013-03-07T16:24:30'>
          <numeric name='Broken' value='abc' unit='V'/>
          <gauge name='Unknown' value='1'/>
          <int name='Fine' value='7'/>
        </timestamp>
      </node>
    </fields>"""
    fields, problems = sd_wire.parse_fields(ET.fromstring(xml))
    assert [f.name for f in fields] == ["Fine"]
    assert any("Broken" in p for p in problems) and any("gauge" in p for p in problems)


def test_fields_grouped_by_node_and_timestamp() -> None:
    stamp = datetime(2013, 3, 7, 19, 31, 15)
    items = [
        Field("Temperature", "numeric", 23.4, "Device02", stamp, unit="°C", decimals=1),
        Field("Humidity", "numeric", 40.0, "Device02", stamp, unit="%", decimals=0),
        Field("Temperature", "numeric", 22.8, "Device03", stamp, unit="°C", decimals=1),
    ]
    element = sd_wire.build_fields(ET.Element(f"{{{SD}}}fields"), items, NodeRef("default"))
    nodes = element.findall(f"{{{SD}}}node")
    assert [n.get("nodeId") for n in nodes] == ["Device02", "Device03"]
    assert len(nodes[0].findall(f"{{{SD}}}timestamp")) == 1
    assert len(nodes[0].find(f"{{{SD}}}timestamp")) == 2


@pytest.mark.parametrize("false", ["false", "0", "FALSE", "no"])
def test_a_category_attribute_set_to_false_is_not_that_category(false: str) -> None:
    """``momentary='false'`` says the field is *not* momentary; only true/1 count."""
    fields_el = ET.fromstring(
        f"<fields xmlns='{SD}' seqnr='1'><node nodeId='D'><timestamp value='2013-03-07T16:24:30'>"
        f"<numeric name='Peak' value='7' unit='W' momentary='{false}' peak='true' "
        f"identification='{false}' automaticReadout='{false}' missing='1'/>"
        "</timestamp></node></fields>")
    (item,), problems = sd_wire.parse_fields(fields_el)
    assert problems == []
    assert item.categories == {"peak"}
    assert item.flags == {"missing"}
    momentary_only = ReadoutRequest(categories={"momentary"})
    assert not sd_wire.wanted(momentary_only, item)


@pytest.mark.parametrize("false", ["false", "0"])
def test_a_request_attribute_set_to_false_does_not_ask_for_that_category(false: str) -> None:
    req = ET.fromstring(f"<req xmlns='{SD}' seqnr='3' momentary='{false}' status='true' "
                        f"all='{false}' identification='{false}'/>")
    _, request = sd_wire.parse_req(req)
    assert request.categories == {"status"}
