"""The app's widgets, a file each."""

from .assistant_turn import AssistantTurn, settled_length
from .chat_input import ChatInput
from .conversation import Conversation
from .sampling_panel import SamplingPanel
from .slider import Slider, SliderSpec
from .status_bar import StatusBar
from .tool_calls import ToolCallsPane, ToolCallView
from .user_turn import UserTurn

__all__ = [
    "AssistantTurn", "ChatInput", "Conversation", "SamplingPanel", "Slider", "SliderSpec", "StatusBar", "ToolCallView",
    "ToolCallsPane", "UserTurn", "settled_length",
]
