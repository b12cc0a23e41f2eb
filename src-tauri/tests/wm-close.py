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
d.flush()
