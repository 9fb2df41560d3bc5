"""The node types AbstractRuntime 0.13.0 knows, and which of them are pure (data-only) when a node has no
pin list. A connected node of a type outside ``KNOWN`` is refused when the flow compiles."""

from __future__ import annotations

EXEC_IN = "exec-in"
EXEC_OUT = "exec-out"
EXECUTION = "execution"
IR_PREFIX = "vf."
"""VisualFlow node types live in the IR as ``vf.<type>``: ``loop`` and ``code`` are flowgram types too."""

BEGIN = "vf.begin"  # the synthetic entry: hands the run's inputs to the flow's entry node
FINISH = "vf.finish"  # the synthetic end of a path that ends outside any control body
BEGIN_ID = "__vf_begin__"
FINISH_ID = "__vf_finish__"
SUBFLOWS = "subflows"
"""A flow document's library of the flows its subflow nodes run, by id (flowloom's: see ``_library``)."""
AFTER_PORT = "__after__"  # where a sequence goes once its last branch returned

BUILTINS = frozenset(
    """abs add agent_trace_report and array_append array_concat array_dedup array_filter array_length
    array_map break_object coalesce compare concat contains divide edit_json_schema format
    format_tool_results get get_element get_random_element has_tools is_empty_string join length
    lowercase make_array make_context make_meta make_object make_scratchpad merge modulo multiply
    not or parse_json power random_float random_int replace round set split string_template
    stringify_json substring subtract system_datetime tool_parameters tools_allowlist trim uppercase
    add_message""".split()
)
PURE_BARE = BUILTINS | frozenset(
    """literal_string literal_number literal_boolean literal_json literal_array json_schema get_var get_vars
    get_context bool_var var_decl provider_catalog provider_models""".split()
)
"""Types that are pure when the node has no pin list (``core-bare-*``)."""

EXEC_TYPES = frozenset(
    """add_message agent answer_user ask_user call_tool code edit_image emit_event export_artifact for
    generate_image generate_music generate_video generate_voice if image_to_image image_to_video
    import_workspace_file list_folder_files listen_voice llm_call loop memact_compose memory_compact
    memory_kg_assert memory_kg_query memory_kg_resolve memory_note memory_query memory_rehydrate memory_tag
    model_residency on_agent_message on_event on_flow_end on_flow_start on_schedule on_user_request parallel
    read_artifact read_file read_pdf sequence set_var set_var_property set_vars subflow switch text_to_video
    tool_calls transcribe_audio upscale_image wait_event wait_until while write_file write_pdf loop_limit
    add_to_list function publish_event automation""".split()
)
KNOWN = EXEC_TYPES | PURE_BARE | {"reroute", "function"}

CONTROL_BODIES: dict[str, tuple[str, ...]] = {"loop": ("loop",), "for": ("loop",), "while": ("loop",)}
"""Loop nodes and their body ports: a path ending in the body returns to the loop."""
LOOPS = frozenset(CONTROL_BODIES)
SEQUENCES = frozenset({"sequence", "parallel"})  # every ``then:N`` port is a body
LISTENERS = frozenset({"on_event"})  # the branch returns to the listener, which waits again


def normalise_type(raw: object) -> str:
    """``NodeType.ON_FLOW_END`` (an enum dumped as text) reads as ``on_flow_end``."""
    text = str(raw)
    if text.startswith("NodeType."):
        text = text[len("NodeType.") :].lower()
    return text
