#!/usr/bin/env python3
"""Reference renderer for pride's chat-template conformance tests.

Renders Jinja chat templates with Python's jinja2 configured the way Hugging Face transformers
configures it in `_compile_jinja_template` (ImmutableSandboxedEnvironment with trim_blocks,
lstrip_blocks, the loopcontrols extension and the AssistantTracker `generation` tag; HF's tojson
filter; the raise_exception and strftime_now globals), and builds the variables of
`apply_chat_template(..., tokenize=False)` the way transformers does. Shares no code with the C++.

stdin:  {"cases": [case, ...]} where a case is either
          {"kind": "template", "template": str, "variables": {...}}
        or
          {"kind": "chat", "tokenizer_config": path, "messages": [...], "tools": [...] | null,
           "add_generation_prompt": bool, "variables": {...}}
stdout: [{"ok": true, "output": str} | {"ok": false, "error": str}, ...] in case order.
`python3 jinja2_reference.py --check` exits 0 when jinja2 can be imported.
"""

import json
import sys
from datetime import datetime


def build_environment():
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class AssistantTracker(jinja2.ext.Extension):
        # HF's {% generation %} block: renders its body (the tracking of assistant masks is off
        # when only the prompt text is wanted).
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
            call = self.call_method("_generation_support")
            return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

        @jinja2.pass_eval_context
        def _generation_support(self, context, caller):
            return caller()

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


SPECIAL_TOKEN_NAMES = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                       "cls_token", "mask_token"]


def token_content(token):
    return token["content"] if isinstance(token, dict) else token


def chat_variables(case):
    """The keyword arguments transformers passes to the compiled template."""
    with open(case["tokenizer_config"], encoding="utf-8") as f:
        config = json.load(f)
    template = config["chat_template"]
    if isinstance(template, list):
        named = {entry["name"]: entry["template"] for entry in template}
        if case.get("tools") is not None and "tool_use" in named:
            template = named["tool_use"]
        else:
            template = named["default"]
    special = {name: token_content(config[name]) for name in SPECIAL_TOKEN_NAMES
               if config.get(name) is not None}
    if isinstance(config.get("additional_special_tokens"), list):
        special["additional_special_tokens"] = [
            token_content(t) for t in config["additional_special_tokens"]]
    kwargs = {**special, **case.get("variables", {})}
    variables = dict(messages=case["messages"], tools=case.get("tools"), documents=None,
                     add_generation_prompt=case.get("add_generation_prompt", False))
    variables.update(kwargs)
    return template, variables


def main():
    if "--check" in sys.argv:
        import jinja2  # noqa: F401  (exit status 1 when missing)
        return
    env = build_environment()
    compiled = {}
    results = []
    for case in json.load(sys.stdin)["cases"]:
        try:
            if case["kind"] == "chat":
                source, variables = chat_variables(case)
            else:
                source, variables = case["template"], case.get("variables", {})
            if source not in compiled:
                compiled[source] = env.from_string(source)
            results.append({"ok": True, "output": compiled[source].render(**variables)})
        except Exception as error:  # every failure is a result: both sides must fail
            results.append({"ok": False, "error": f"{type(error).__name__}: {error}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
