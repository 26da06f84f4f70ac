"""Start apmtl_node as a lifecycle node, configured and activated by launch events.

    ros2 launch surg_perception apmtl.launch.py checkpoint:=/path/model.pt \
        image_topic:=/jhu_daVinci/left/image_raw

Autostart uses the portable event pattern (Humble and later): process start -> CONFIGURE,
``configuring -> inactive`` -> ACTIVATE. The start state matters: ``deactivating ->
inactive`` also reaches inactive, and a handler on the goal state alone re-activated the
node a moment after an operator's ``ros2 lifecycle set ... deactivate``. The node's own
``autostart`` parameter does the same once without launch; here it is forced off so the two
never race.
"""

from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessStart
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription

ARGUMENTS = (
    ("namespace", "", "namespace of the node"),
    ("params_file", PathJoinSubstitution([FindPackageShare("surg_perception"), "config",
                                          "apmtl.yaml"]), "node parameters (YAML)"),
    ("image_topic", "/jhu_daVinci/left/image_raw", "camera topic; <topic>/compressed too"),
    ("checkpoint", "", "checkpoint file (empty: keep params_file's model.checkpoint)"),
    ("device", "", "auto | cpu | cuda | cuda:N (empty: keep params_file's model.device)"),
    ("autostart", "true", "configure and activate on start"),
)


def _change_state(node: LifecycleNode, transition: int) -> EmitEvent:
    return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(node),
                                       transition_id=transition))


def _launch_setup(context):
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    # Only non-empty arguments override the parameters file.
    overrides = {"autostart": False}
    for name, param in (("checkpoint", "model.checkpoint"), ("device", "model.device")):
        if arg(name):
            overrides[param] = arg(name)
    image_topic = arg("image_topic")
    node = LifecycleNode(
        package="surg_perception",
        executable="apmtl_node",
        name="apmtl_node",
        namespace=arg("namespace"),
        parameters=[arg("params_file"), overrides],
        remappings=[("image", image_topic), ("image/compressed", f"{image_topic}/compressed")],
        output="screen",
    )
    actions = [node]
    if arg("autostart").lower() in ("true", "1", "yes"):
        actions += [
            RegisterEventHandler(OnProcessStart(
                target_action=node,
                on_start=[_change_state(node, Transition.TRANSITION_CONFIGURE)])),
            RegisterEventHandler(OnStateTransition(
                # configure's transition only, never deactivate's (see the docstring)
                target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
                entities=[_change_state(node, Transition.TRANSITION_ACTIVATE)])),
        ]
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *(DeclareLaunchArgument(name, default_value=default, description=text)
          for name, default, text in ARGUMENTS),
        OpaqueFunction(function=_launch_setup),
    ])
