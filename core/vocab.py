"""Small vocabularies shared by the settings and the code they configure."""

from __future__ import annotations

from typing import Literal

Device = Literal["auto", "cpu", "cuda"]  # where the networks run; auto: CUDA when there is one
Alphabet = Literal["western", "all"]  # the characters the recognizer may answer
