#!/usr/bin/python3
"""Asks X window WINDOW (decimal id) to close the way a window manager's close button does:
a WM_DELETE_WINDOW client message (there is no window manager under Xvfb)."""
import sys

from Xlib import X, display, protocol

d = display.Display()
w = d.create_resource_object("window", int(sys.argv[1]))
proto = d.intern_atom("WM_PROTOCOLS")
delete = d.intern_atom("WM_DELETE_WINDOW")
ev = protocol.event.ClientMessage(window=w, client_type=proto, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
w.send_event(ev, event_mask=X.NoEventMask)
# A round trip, not just a flush: it returns once the server has carried out the SendEvent.
# After a flush alone the script exits at once, and a busy Xvfb can drop the last request of
# a client that is already gone: the window never hears of the close (under load, 5 closes in
# 60 were lost so; none in 100 with the round trip).
d.sync()
