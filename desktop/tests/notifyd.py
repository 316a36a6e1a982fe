#!/usr/bin/python3
"""A notification server for the desktop app's tests: owns org.freedesktop.Notifications on the
session bus (the Desktop Notifications Specification), writes every Notify call it receives as a
JSON line to the file named by its argument, and clicks a notification on request:
`org.natter.Test.Click(id)` emits ActionInvoked(id, "default"), what a server sends when the
user clicks a notification that offers the "default" action. Debian's python3-dbus and
python3-gi."""
import json
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

IFACE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


class Server(dbus.service.Object):
    def __init__(self, bus, log):
        super().__init__(bus, PATH)
        self.log = log
        self.next = 0

    @dbus.service.method(IFACE, in_signature="", out_signature="as")
    def GetCapabilities(self):
        return ["actions", "body", "body-markup", "icon-static", "persistence"]

    @dbus.service.method(IFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("natter-test-notifyd", "natter", "1.0", "1.2")

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app_name, replaces_id, app_icon, summary, body, actions, hints, timeout):
        self.next += 1
        record = {
            "id": self.next,
            "app_name": str(app_name),
            "summary": str(summary),
            "body": str(body),
            "actions": [str(a) for a in actions],
        }
        with open(self.log, "a") as f:
            f.write(json.dumps(record) + "\n")
        return dbus.UInt32(self.next)

    @dbus.service.method(IFACE, in_signature="u", out_signature="")
    def CloseNotification(self, id):
        self.NotificationClosed(id, 3)

    @dbus.service.signal(IFACE, signature="us")
    def ActionInvoked(self, id, action_key):
        pass

    @dbus.service.signal(IFACE, signature="uu")
    def NotificationClosed(self, id, reason):
        pass

    @dbus.service.method("org.natter.Test", in_signature="u", out_signature="")
    def Click(self, id):
        self.ActionInvoked(id, "default")


def main():
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    name = dbus.service.BusName(IFACE, bus, do_not_queue=True)
    Server(bus, sys.argv[1])
    print("notifyd ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
