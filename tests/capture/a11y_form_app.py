"""A small GTK3 form for the AT-SPI tests: a user-name entry and a hidden (password) entry.

Run with Debian's ``/usr/bin/python3`` (python3-gi, gir1.2-gtk-3.0), not the venv's Python. The window title is
given on the command line and deliberately says nothing about logging in, so only the accessibility bus can tell
that the second entry is secret. Prints ``ready`` once the window is shown.
"""

import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402


def main() -> None:
    title = sys.argv[1] if len(sys.argv) > 1 else "Form"
    GLib.set_prgname("formapp")  # its WM_CLASS: nothing about logging in there either
    win = Gtk.Window(title=title)
    win.set_default_size(420, 160)
    win.move(40, 40)
    box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=8)
    user = Gtk.Entry()
    user.set_name("user")
    secret = Gtk.Entry()
    secret.set_name("secret")
    secret.set_visibility(False)  # exposed to AT-SPI as "password text"
    box.pack_start(user, False, False, 0)
    box.pack_start(secret, False, False, 0)
    win.add(box)
    win.connect("destroy", Gtk.main_quit)
    win.show_all()
    user.grab_focus()

    def ready() -> bool:
        print("ready", flush=True)
        return False

    GLib.timeout_add(200, ready)
    Gtk.main()


if __name__ == "__main__":
    main()
