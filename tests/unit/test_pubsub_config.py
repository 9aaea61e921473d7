"""Node configuration values: names, types and ranges checked against a server's form."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from xiot.errors import UsageError
from xiot.pubsub import config as cfg
from xiot.pubsub.core import UnsupportedFeature
from xiot.xmpp.forms import parse_form

# Prosody 0.12.3's configure form, abridged (recorded from the lab).
PROSODY_FORM = """<x xmlns="jabber:x:data" type="form">
<field type="hidden" var="FORM_TYPE"><value>http://jabber.org/protocol/pubsub#node_config</value></field>
<field var="pubsub#title" type="text-single" label="Title"/>
<field var="pubsub#max_items" type="text-single">
  <validate xmlns="http://jabber.org/protocol/xdata-validate" datatype="pubsub:integer-or-max">
    <range min="1" max="256"/></validate><value>20</value></field>
<field var="pubsub#persist_items" type="boolean"><value>1</value></field>
<field var="pubsub#access_model" type="list-single">
  <option><value>open</value></option><option><value>whitelist</value></option>
  <value>open</value></field>
<field var="pubsub#roster_groups_allowed" type="list-multi"/>
</x>"""


@pytest.fixture()
def form():
    return parse_form(ET.fromstring(PROSODY_FORM))


def test_short_names_become_registry_fields():
    assert cfg.field_name("access") == "pubsub#access_model"
    assert cfg.field_name("max-items") == "pubsub#max_items"
    assert cfg.field_name("persist") == "pubsub#persist_items"
    assert cfg.field_name("pubsub#title") == "pubsub#title"
    assert cfg.field_name("urn:x#field") == "urn:x#field"


def test_values_are_typed_and_made_lexical(form):
    checked = cfg.check({"access": "whitelist", "max_items": "max", "persist": False,
                         "title": "Kitchen", "roster_groups": "ops, devs"}, form, "svc")
    assert checked.typed == {"pubsub#access_model": "whitelist", "pubsub#max_items": "max",
                             "pubsub#persist_items": False, "pubsub#title": "Kitchen",
                             "pubsub#roster_groups_allowed": ("ops", "devs")}
    assert checked.lexical["pubsub#persist_items"] == ("false",)
    assert checked.lexical["pubsub#roster_groups_allowed"] == ("ops", "devs")


@pytest.mark.parametrize(("values", "says"), [
    ({"pubsub#nope": "1"}, "unknown configuration field 'pubsub#nope' for svc"),
    ({"max_items": "lots"}, "takes a whole number or max, not 'lots'"),
    ({"max_items": "300"}, "pubsub#max_items 300 is out of the server's range"),
    ({"max_items": True}, "takes a whole number"),
    ({"persist": "maybe"}, "takes true or false, not 'maybe'"),
    ({"access": "presence"}, "cannot be 'presence'"),
    ({"title": ["a", "b"]}, "takes one value, not a list"),
])
def test_bad_values_are_refused(form, values, says):
    with pytest.raises(UsageError) as caught:
        cfg.check(values, form, "svc")
    assert says in caught.value.one_line()


def test_registry_fields_missing_from_a_form_are_allowed_and_typed(form):
    checked = cfg.check({"notify_config": "yes", "item_expire": "60"}, form, "svc")
    assert checked.typed == {"pubsub#notify_config": True, "pubsub#item_expire": 60}
    with pytest.raises(UsageError, match="true or false"):
        cfg.check({"notify_config": "often"}, form, "svc")


def test_collection_fields_need_the_feature(form):
    with pytest.raises(UnsupportedFeature) as caught:
        cfg.check({"collection": "parent"}, form, "pubsub.x", collections=False)
    assert "pubsub.x does not support collection nodes (XEP-0248)" in caught.value.message
    assert caught.value.exit_code == 7


def test_same_compares_typed_values_with_the_form(form):
    assert cfg.same(form.field("pubsub#persist_items"), True)
    assert not cfg.same(form.field("pubsub#persist_items"), False)
    assert cfg.same(form.field("pubsub#max_items"), 20)
    assert cfg.same(form.field("pubsub#roster_groups_allowed"), ())
    assert cfg.current_value(form.field("pubsub#title")) is None


def test_assignments_from_the_command_line():
    assert cfg.parse_assignments(["title=A=B", "roster_groups=x", "roster_groups=y"]) == {
        "pubsub#title": "A=B", "pubsub#roster_groups_allowed": ["x", "y"]}
    with pytest.raises(UsageError, match="is not KEY=VALUE"):
        cfg.parse_assignments(["title"])
