"""Render a chat template (the Jinja2 text embedded in GGUF files and tokenizer configs) for one user turn."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from .base import TeacherError


def _raise(message: str) -> None:
    raise TeacherError(f"chat template refused the messages: {message}")


def messages_for(prompt: str, system: Optional[str]) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


class ChatTemplate:
    def __init__(self, template: str, bos_token: str = "", eos_token: str = ""):
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self._template = env.from_string(template)
        self.bos_token, self.eos_token = bos_token, eos_token

    def render(self, prompt: str, system: Optional[str] = None) -> str:
        """The text the model sees, ending with the assistant turn's opening."""
        return self._template.render(messages=messages_for(prompt, system), add_generation_prompt=True,
                                     bos_token=self.bos_token, eos_token=self.eos_token)


def render_with_tokenizer(tok, chat: bool, prompt: str, system: Optional[str]) -> list[int]:
    """HF-tokenizer input ids: the tokenizer's chat template when `chat` and it has one, else the raw prompt."""
    if chat and tok.chat_template:
        text = tok.apply_chat_template(messages_for(prompt, system), add_generation_prompt=True, tokenize=False)
        return tok(text, add_special_tokens=False)["input_ids"]
    return tok(prompt)["input_ids"]
