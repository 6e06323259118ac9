"""The voice line: TwiML endpoints that Twilio, SignalWire or Telnyx TeXML numbers call.

The provider POSTs form-encoded call parameters and follows the TwiML it gets back. The
endpoints here only speak the provider's language: every decision goes through the same
call-centre core as the JSON gateway (hotline.calls, the routing Lua), so a voice call and
a gateway call are the same call.
"""
