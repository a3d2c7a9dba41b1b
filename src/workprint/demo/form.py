"""A small Tk expense form used by the demo and the end-to-end tests (``python -m workprint.demo.form``).

Its widgets sit at fixed positions so a scripted session can click them by coordinate, and it changes what it
shows on every action (the Submit button turns the status bar green), so a test can tell a frame taken before an
action from one taken after it.
"""

from __future__ import annotations

import sys
import tkinter as tk

TITLE = "Expense report – workprint demo"
WIDTH, HEIGHT = 640, 480
# Widget centres, relative to the window's top-left corner (the demo adds the window's position).
NAME_ENTRY = (300, 40)
AMOUNT_ENTRY = (300, 90)
NOTES_TEXT = (300, 190)
SUBMIT_BUTTON = (120, 300)
CANVAS = (330, 390)
STATUS_BAR = (320, 465)
READY_COLOUR = (204, 204, 204)
SUBMITTED_COLOUR = (0, 170, 0)


def build(root: tk.Tk) -> None:
    """Lay the form out with ``place`` so every widget is where the constants say."""
    root.title(sys.argv[1] if len(sys.argv) > 1 else TITLE)
    root.geometry(f"{WIDTH}x{HEIGHT}+0+0")
    root.resizable(False, False)
    tk.Label(root, text="Name").place(x=20, y=30)
    name = tk.Entry(root, width=40)
    name.place(x=120, y=30, width=360, height=22)
    tk.Label(root, text="Amount").place(x=20, y=80)
    amount = tk.Entry(root, width=40)
    amount.place(x=120, y=80, width=360, height=22)
    tk.Label(root, text="Notes").place(x=20, y=130)
    notes = tk.Text(root)
    notes.place(x=120, y=130, width=360, height=120)
    notes.insert("1.0", "\n".join(f"line {i}" for i in range(1, 80)))
    status = tk.Label(root, text="ready", bg="#cccccc", anchor="w")
    status.place(x=0, y=450, width=WIDTH, height=30)

    def submit() -> None:
        status.configure(text=f"submitted: {name.get()} {amount.get()}", bg="#00aa00")

    tk.Button(root, text="Submit", command=submit).place(x=70, y=285, width=100, height=30)
    canvas = tk.Canvas(root, bg="white")
    canvas.place(x=230, y=340, width=200, height=100)
    item = canvas.create_rectangle(10, 35, 40, 65, fill="blue")
    drag: dict[str, int] = {}

    def press(ev: tk.Event) -> None:
        drag["x"], drag["y"] = ev.x, ev.y

    def motion(ev: tk.Event) -> None:
        canvas.move(item, ev.x - drag.get("x", ev.x), ev.y - drag.get("y", ev.y))
        drag["x"], drag["y"] = ev.x, ev.y

    canvas.bind("<ButtonPress-1>", press)
    canvas.bind("<B1-Motion>", motion)
    name.focus_set()


def main() -> None:
    """Run the form until its window is closed."""
    root = tk.Tk()
    build(root)
    root.mainloop()


if __name__ == "__main__":
    main()
