# ruff: noqa: E501  (XML test vectors read best unwrapped)
"""XEP-0323/0325 example exchanges from the reference catalogue (§8), written well-formed.

Requester ``client@example.org/amr`` (0323) or ``primary@example.org/amr`` (0325); the XSF
examples use bare device JIDs, which we keep for the device side of each exchange.
"""

SD = "urn:xmpp:iot:sensordata"
CTRL = "urn:xmpp:iot:control"
CLIENT = "client@example.org/amr"
DEVICE = "device@example.org"

# 8.1 #1 momentary readout
S1_FIELDS = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='1' done='true'>
    <node nodeId='Device01'>
      <timestamp value='2013-03-07T16:24:30'>
        <numeric name='Temperature' momentary='true' automaticReadout='true' value='23.4' unit='°C'/>
      </timestamp>
    </node>
  </fields>
</message>"""

# 8.1 #2 readout failure
S2_FAILURE = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <failure xmlns='{SD}' seqnr='2' done='true'>
    <error nodeId='Device01' timestamp='2013-03-07T17:13:30'>Timeout.</error>
  </failure>
</message>"""

# 8.1 #3 rejected (0.3+) and the legacy 0.1/0.2 form
S3_REJECTED = f"""
<iq xmlns='jabber:client' type='error' from='{DEVICE}' to='{CLIENT}' id='S0003'>
  <error type='cancel'>
    <forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
    <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>Access denied.</text>
  </error>
</iq>"""
S3_REJECTED_LEGACY = f"""
<iq xmlns='jabber:client' type='error' from='{DEVICE}' to='{CLIENT}' id='S0003'>
  <rejected xmlns='{SD}' seqnr='3'><error>Access denied.</error></rejected>
</iq>"""

# 8.1 #4 scheduled read-all: queued, started, three fields messages, separate done.
S4_FIELDS_A = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='4'>
    <node nodeId='Device01'>
      <timestamp value='2013-03-07T19:00:00'>
        <numeric name='Temperature' momentary='true' automaticReadout='true' value='23.4' unit='°C'/>
        <numeric name='Runtime' status='true' automaticReadout='true' value='12345' unit='h'/>
        <string name='Device ID' identification='true' automaticReadout='true' value='Device01'/>
      </timestamp>
    </node>
  </fields>
</message>"""
S4_FIELDS_B = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='4'>
    <node nodeId='Device01'>
      <timestamp value='2013-03-07T19:00:00'>
        <numeric name='Temperature, Max' peak='true' automaticReadout='true' value='25.9' unit='°C'/>
        <numeric name='Temperature, Min' peak='true' automaticReadout='true' value='18.7' unit='°C'/>
        <numeric name='Temperature, Mean' computed='true' automaticReadout='true' value='22.5' unit='°C'/>
      </timestamp>
    </node>
  </fields>
</message>"""
S4_FIELDS_C = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='4'>
    <node nodeId='Device01'>
      <timestamp value='2013-03-07T18:00:00'>
        <numeric name='Temperature' historicalHour='true' automaticReadout='true' value='24.5' unit='°C'/>
      </timestamp>
      <timestamp value='2013-03-07T17:00:00'>
        <numeric name='Temperature' historicalHour='true' automaticReadout='true' value='25.1' unit='°C'/>
      </timestamp>
      <timestamp value='2013-03-07T16:00:00'>
        <numeric name='Temperature' historicalHour='true' automaticReadout='true' value='25.2' unit='°C'/>
      </timestamp>
      <timestamp value='2013-03-07T00:00:00'>
        <numeric name='Temperature' historicalHour='true' historicalDay='true' automaticReadout='true' value='25.2' unit='°C'/>
      </timestamp>
    </node>
  </fields>
</message>"""


def s4_message(payload: str) -> str:
    return (
        f"<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>"
        f"<{payload} xmlns='{SD}' seqnr='4'/></message>"
    )


# 8.1 #5 several nodes, two messages
S5_FIELDS_1 = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='5'>
    <node nodeId='Device02'>
      <timestamp value='2013-03-07T19:31:15'>
        <numeric name='Temperature' momentary='true' automaticReadout='true' value='23.4' unit='°C'/>
      </timestamp>
    </node>
  </fields>
</message>"""
S5_FIELDS_2 = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='5' done='true'>
    <node nodeId='Device03'>
      <timestamp value='2013-03-07T19:31:16'>
        <numeric name='Temperature' momentary='true' automaticReadout='true' value='22.8' unit='°C'/>
      </timestamp>
    </node>
  </fields>
</message>"""

# 8.1 #6 specific fields (plus an extra field the client must filter out)
S6_FIELDS = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='6' done='true'>
    <node nodeId='Device04'>
      <timestamp value='2013-03-07T22:03:15'>
        <numeric name='Energy' momentary='true' automaticReadout='true' value='12345.67' unit='MWh'/>
        <numeric name='Power' momentary='true' automaticReadout='true' value='239.4' unit='W'/>
        <numeric name='Voltage' momentary='true' automaticReadout='true' value='230.1' unit='V'/>
      </timestamp>
    </node>
  </fields>
</message>"""

# 8.1 #8 localised field names
S8_FIELDS = f"""
<message xmlns='jabber:client' from='{DEVICE}' to='{CLIENT}'>
  <fields xmlns='{SD}' seqnr='7' done='true'>
    <node nodeId='Device05'>
      <timestamp value='2013-03-07T22:20:45'>
        <numeric name='Temperature' momentary='true' automaticReadout='true' value='23.4' unit='°C'
                 module='Whatchamacallit' stringIds='1'/>
        <numeric name='Temperature, Min' momentary='true' automaticReadout='true' value='23.4' unit='°C'
                 module='Whatchamacallit' stringIds='1,2'/>
        <numeric name='Temperature, Max' momentary='true' automaticReadout='true' value='23.4' unit='°C'
                 module='Whatchamacallit' stringIds='1,3'/>
        <numeric name='Temperature, Mean' momentary='true' automaticReadout='true' value='23.4' unit='°C'
                 module='Whatchamacallit' stringIds='1,4'/>
      </timestamp>
    </node>
  </fields>
</message>"""

# 8.2 #3 control failure, written well-formed
C3_ERROR = f"""
<iq xmlns='jabber:client' type='error' from='analog.output@example.org' to='primary@example.org/amr' id='2'>
  <error type='modify'>
    <bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
    <paramError xmlns='{CTRL}' var='Output'>Invalid parameter type.</paramError>
  </error>
</iq>"""

# 8.2 #6 control form for the dimmer (the XEP's namespace declarations fixed)
C6_FORM = """
<iq xmlns='jabber:client' type='result' from='dimmer@example.org' to='primary@example.org/amr' id='3'>
  <x type='form' xmlns='jabber:x:data'
     xmlns:xdv='http://jabber.org/protocol/xdata-validate'
     xmlns:xdl='http://jabber.org/protocol/xdata-layout'
     xmlns:xdd='urn:xmpp:xdata:dynamic'>
    <title>Dimmer</title>
    <xdl:page label='Output'>
      <xdl:fieldref var='FadeTimeMilliseconds'/>
      <xdl:fieldref var='OutputPercent'/>
      <xdl:fieldref var='MainSwitch'/>
    </xdl:page>
    <field var='xdd session' type='hidden'><value>325ED0F3-9A9A-45A4-9634-4E0D41C5EA06</value></field>
    <field var='FadeTimeMilliseconds' type='text-single' label='Fade Time (ms):'>
      <desc>Time in milliseconds used to fade the light.</desc>
      <value>300</value>
      <xdd:notSame/>
      <xdv:validate datatype='xs:int'><xdv:range min='0' max='4095'/></xdv:validate>
    </field>
    <field var='OutputPercent' type='text-single' label='Output (%):'>
      <desc>Output level in percent.</desc>
      <value>100</value>
      <xdd:notSame/>
      <xdv:validate datatype='xs:int'><xdv:range min='0' max='100'/></xdv:validate>
    </field>
    <field var='MainSwitch' type='boolean' label='Main switch'>
      <desc>Switches the light on or off.</desc>
      <value>true</value>
      <xdd:notSame/>
    </field>
  </x>
</iq>"""

# 8.2 #17 parameter groups
C17_FORM = f"""
<iq xmlns='jabber:client' type='result' from='spotlight@example.org' to='primary@example.org/amr' id='12'>
  <x type='form' xmlns='jabber:x:data'
     xmlns:xdv='http://jabber.org/protocol/xdata-validate'
     xmlns:xdl='http://jabber.org/protocol/xdata-layout'
     xmlns:xdd='urn:xmpp:xdata:dynamic'>
    <title>Spotlight</title>
    <xdl:page label='Output'><xdl:fieldref var='MainSwitch'/></xdl:page>
    <xdl:page label='Direction'>
      <xdl:fieldref var='HorizontalAngle'/>
      <xdl:fieldref var='ElevationAngle'/>
    </xdl:page>
    <field var='xdd session' type='hidden'><value>325ED0F3-9A9A-45A4-9634-4E0D41C5EA06</value></field>
    <field var='MainSwitch' type='boolean' label='Main switch'><value>true</value><xdd:notSame/></field>
    <field var='HorizontalAngle' type='text-single' label='Horizontal angle:'>
      <value>0</value><xdd:notSame/>
      <xdv:validate datatype='xs:double'><xdv:range min='-180' max='180'/></xdv:validate>
      <parameterGroup xmlns='{CTRL}' name='direction'/>
    </field>
    <field var='ElevationAngle' type='text-single' label='Elevation angle:'>
      <value>0</value><xdd:notSame/>
      <xdv:validate datatype='xs:double'><xdv:range min='-90' max='90'/></xdv:validate>
      <parameterGroup xmlns='{CTRL}' name='direction'/>
    </field>
  </x>
</iq>"""

# 8.2 #20 refusals as a device built on slixmpp 1.17's xep_0325 plugin sends them: an iq
# error with no <error> element, carrying setResponse with responseCode.  The plugin names the
# real parameter in <parameter name> and the real node in <node nodeId>, but sets <error var>
# to "Output" on every validation failure and timeout (control.py, _handle_set_req and
# _event_comm_timeout); only a failure its device callback reports carries the real var.
LEGACY = "thermostat@example.org/legacy"
C20_UNKNOWN_PARAMETER = f"""
<iq xmlns='jabber:client' type='error' id='{{id}}' from='{LEGACY}'>
  <setResponse xmlns='{CTRL}' responseCode='NotFound'><parameter name='Setpoint' /><error var='Output'>Invalid field Setpoint</error></setResponse>
</iq>"""
C20_UNKNOWN_NODE = f"""
<iq xmlns='jabber:client' type='error' id='{{id}}' from='{LEGACY}'>
  <setResponse xmlns='{CTRL}' responseCode='NotFound'><node nodeId='Relay9' /><error var='Output'>Invalid nodeId Relay9</error></setResponse>
</iq>"""
C20_DEVICE_FAILED = f"""
<iq xmlns='jabber:client' type='error' id='{{id}}' from='{LEGACY}'>
  <setResponse xmlns='{CTRL}' responseCode='OtherError'><node nodeId='Relay2' /><parameter name='Setpoint' /><error var='Setpoint'>Value out of range</error></setResponse>
</iq>"""
C20_TIMEOUT = f"""
<iq xmlns='jabber:client' type='error' id='{{id}}' from='{LEGACY}'>
  <setResponse xmlns='{CTRL}' responseCode='OtherError'><node nodeId='Relay1' /><error var='Output'>Timeout.</error></setResponse>
</iq>"""
