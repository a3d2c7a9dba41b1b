"""Actions render as AgentNet's PyAutoGUI code: valid Python, normalised coordinates, four decimals at most."""

from __future__ import annotations

import ast

import pytest

from workprint.dataset.actions import ACTION_KINDS, Action


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (Action("click", 0, 0, x=0.453125, y=0.2375), "pyautogui.click(x=0.4531, y=0.2375)"),
        (Action("doubleClick", 0, 0, x=0.5, y=0.5), "pyautogui.doubleClick(x=0.5, y=0.5)"),
        (Action("tripleClick", 0, 0, x=0.0, y=1.0), "pyautogui.tripleClick(x=0.0, y=1.0)"),
        (Action("rightClick", 0, 0, x=0.9553, y=0.5117), "pyautogui.rightClick(x=0.9553, y=0.5117)"),
        (Action("middleClick", 0, 0, x=0.1, y=0.2), "pyautogui.middleClick(x=0.1, y=0.2)"),
        (Action("moveTo", 0, 0, x=0.00001, y=0.2), "pyautogui.moveTo(x=0.0, y=0.2)"),
        (
            Action("dragTo", 0, 0, x=0.4107, y=0.2773, from_x=0.4546, from_y=0.2682),
            "pyautogui.moveTo(x=0.4546, y=0.2682)\npyautogui.dragTo(x=0.4107, y=0.2773, button='left')",
        ),
        (Action("scroll", 0, 0, amount=-3), "pyautogui.scroll(-3)"),
        (Action("hscroll", 0, 0, x=0.5, y=0.5, amount=2), "pyautogui.moveTo(x=0.5, y=0.5)\npyautogui.hscroll(2)"),
        (Action("write", 0, 0, text="hello"), "pyautogui.write(message='hello')"),
        (Action("write", 0, 0, text='it\'s \\ "x"\n'), "pyautogui.write(message='it\\'s \\\\ \"x\"\\n')"),
        (Action("press", 0, 0, keys=("enter",)), "pyautogui.press('enter')"),
        (Action("hotkey", 0, 0, keys=("ctrl", "c")), "pyautogui.hotkey('ctrl', 'c')"),
        (Action("wait", 0, 0, amount=2.5), "pyautogui.sleep(2.5)"),
    ],
)
def test_to_pyautogui_renders_agentnet_code(action: Action, code: str) -> None:
    assert action.to_pyautogui() == code


@pytest.mark.parametrize("kind", ACTION_KINDS)
def test_every_kind_renders_parseable_python_calling_pyautogui(kind: str) -> None:
    action = Action(kind, 0, 0, x=0.25, y=0.75, from_x=0.1, from_y=0.1, text="a'b", keys=("ctrl", "v"), amount=1)  # type: ignore[arg-type]
    tree = ast.parse(action.to_pyautogui())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert calls
    assert all(isinstance(c.func, ast.Attribute) and ast.unparse(c.func.value) == "pyautogui" for c in calls)


def test_write_code_evaluates_back_to_the_exact_text() -> None:
    text = "naïve 'quotes' \"double\" \\ tab\t€"
    call = ast.parse(Action("write", 0, 0, text=text).to_pyautogui()).body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert ast.literal_eval(call.value.keywords[0].value) == text


def test_modifiers_wrap_pointer_actions_in_key_down_and_up_in_reverse_order() -> None:
    a = Action("dragTo", 0, 0, x=0.5, y=0.5, from_x=0.1, from_y=0.1, modifiers=("ctrl", "shift"))
    assert a.to_pyautogui().splitlines() == [
        "pyautogui.keyDown('ctrl')",
        "pyautogui.keyDown('shift')",
        "pyautogui.moveTo(x=0.1, y=0.1)",
        "pyautogui.dragTo(x=0.5, y=0.5, button='left')",
        "pyautogui.keyUp('shift')",
        "pyautogui.keyUp('ctrl')",
    ]
    assert Action("write", 0, 0, text="a", modifiers=("shift",)).to_pyautogui() == "pyautogui.write(message='a')"
