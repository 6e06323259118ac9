"""What the voice line says: one prompt file per language (prompts/vi.json, prompts/en.json).

A prompt is spoken by the provider's text-to-speech in the file's language, unless a
recorded audio file for it is configured: HOTLINE_VOICE_AUDIO_DIR/<language>/<prompt>.mp3
(or .wav), which the app serves under /voice-audio/ and the TwiML plays instead.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from kernel.settings import get_settings

PROMPTS = Path(__file__).parent / "prompts"
AUDIO_ROUTE = "/voice-audio"
AUDIO_SUFFIXES = (".mp3", ".wav")


@functools.cache
def _load(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((PROMPTS / f"{language}.json").read_text(encoding="utf-8"))
    return data


def languages() -> list[str]:
    """The languages with a prompt file, Vietnamese first."""
    found = sorted(p.stem for p in PROMPTS.glob("*.json"))
    return sorted(found, key=lambda lang: (lang != "vi", lang))


def language_or_default(language: str | None) -> str:
    if language in languages():
        return str(language)
    default = get_settings().voice_language
    return default if default in languages() else "vi"


def text(language: str, key: str, **values: Any) -> str:
    return _load(language_or_default(language))[key].format(**values)


def tts_language(language: str) -> str:
    return _load(language_or_default(language))["_tts_language"]


def audio_url(language: str, name: str) -> str | None:
    """The public URL of a recorded prompt, if one is configured."""
    folder = get_settings().voice_audio_dir
    if folder is None:
        return None
    language = language_or_default(language)
    for suffix in AUDIO_SUFFIXES:
        if (folder / language / f"{name}{suffix}").is_file():
            base = get_settings().public_url.rstrip("/")
            return f"{base}{AUDIO_ROUTE}/{language}/{name}{suffix}"
    return None


def speak(
    node: Any,
    language: str,
    key: str,
    *,
    audio: str | None = None,
    recorded: bool = True,
    **values: Any,
) -> None:
    """Add the prompt to a TwiML node (the response, a Gather): recorded audio or speech.

    audio: the recording's name when it differs from the prompt's (e.g. "menu_item-3");
    recorded=False: always speech (a prompt that carries a number).
    """
    url = audio_url(language, audio or key) if recorded else None
    if url:
        node.play(url)
    else:
        node.say(text(language, key, **values), language=tts_language(language))
