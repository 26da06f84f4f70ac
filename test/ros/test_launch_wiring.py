"""The launch file's event-handler wiring, read without launch or launch_ros (issue 15).

Neither ``launch`` nor ``launch_ros`` has a pip wheel here, so the launch description cannot
be built in this environment; its source is read instead (``ast``): the arguments
``--show-args`` lists and the handlers' keywords. test_launch.py checks the same on a real
launch description where launch_ros is importable.
"""

import ast

LAUNCH_ARGS = {"namespace", "params_file", "image_topic", "checkpoint", "device", "autostart"}


def _tree(repo_root):
    return ast.parse((repo_root / "launch" / "apmtl.launch.py").read_text())


def _calls(tree, name: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == name]


def _keywords(call: ast.Call) -> dict:
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords
            if isinstance(k.value, ast.Constant)}


def test_activate_follows_configure_only(repo_root):
    (handler,) = _calls(_tree(repo_root), "OnStateTransition")
    keywords = _keywords(handler)
    # goal_state alone also matches deactivating -> inactive: the node re-activated
    assert keywords == {"start_state": "configuring", "goal_state": "inactive"}
    (emitted,) = _calls(handler, "_change_state")
    assert ast.unparse(emitted.args[1]) == "Transition.TRANSITION_ACTIVATE"


def test_configure_follows_process_start_and_node_autostart_is_off(repo_root):
    tree = _tree(repo_root)
    (start,) = _calls(tree, "OnProcessStart")
    (emitted,) = _calls(start, "_change_state")
    assert ast.unparse(emitted.args[1]) == "Transition.TRANSITION_CONFIGURE"
    overrides = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)
                 and ast.unparse(n.targets[0]) == "overrides"]
    assert ast.literal_eval(overrides[0].value) == {"autostart": False}  # never both


def test_every_argument_is_declared_at_top_level(repo_root):
    tree = _tree(repo_root)
    (arguments,) = [n for n in tree.body if isinstance(n, ast.Assign)
                    and ast.unparse(n.targets[0]) == "ARGUMENTS"]
    names = {entry.elts[0].value for entry in arguments.value.elts}
    assert names == LAUNCH_ARGS
    # declared in generate_launch_description itself (what --show-args lists), not inside
    # the OpaqueFunction, whose declarations --show-args cannot see
    (generate,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)
                   and n.name == "generate_launch_description"]
    assert _calls(generate, "DeclareLaunchArgument")
    (setup,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)
                and n.name == "_launch_setup"]
    assert not _calls(setup, "DeclareLaunchArgument")
    assert "namespace=arg(\"namespace\")" in ast.unparse(setup).replace("'", '"')
