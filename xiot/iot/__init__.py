"""IoT extensions: XEP-0323 sensor data, XEP-0325 control, XEP-0326 concentrators."""
