"""The models: which one embeds and which one answers, where Ollama is, and how model calls queue
and batch (GPU slots are shared by embedding and generation)."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal, Self

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from ragplane.settings._reading import Section
from ragplane.settings.types import Flag, Lower, Text, Url

EmbedderChoice = Literal["local", "ollama"]
AnswererChoice = Literal["extractive", "ollama"]


class ModelSettings(Section):
    ollama_url: Url | None = Field(None, validation_alias="OLLAMA_URL")
    ollama_embed_model: Text = Field("nomic-embed-text", validation_alias="OLLAMA_EMBED_MODEL")
    ollama_llm_model: Text = Field("llama3.2", validation_alias="OLLAMA_LLM_MODEL")
    ollama_timeout_s: PositiveFloat = Field(60.0, validation_alias="OLLAMA_TIMEOUT_S")
    # Both become ollama by default when OLLAMA_URL is set (see `_ollama_when_configured`).
    embedder: Annotated[EmbedderChoice, Lower] = Field("local", validation_alias="EMBEDDER")
    answerer: Annotated[AnswererChoice, Lower] = Field("extractive", validation_alias="ANSWERER")
    embedder_threads: PositiveInt = Field(
        default_factory=lambda: os.cpu_count() or 1, validation_alias="EMBEDDER_THREADS"
    )
    embedder_process: Flag = Field(True, validation_alias="EMBEDDER_PROCESS")
    # None: 1 with Ollama (one model instance), else the core count (see `Settings.effective_gpu_slots`).
    gpu_slots: PositiveInt | None = Field(None, validation_alias="GPU_SLOTS")
    gpu_queue_timeout_s: PositiveFloat = Field(30.0, validation_alias="GPU_QUEUE_TIMEOUT_S")
    embed_batch_max: PositiveInt = Field(32, validation_alias="EMBED_BATCH_MAX")
    embed_batch_wait_ms: NonNegativeFloat = Field(2.0, validation_alias="EMBED_BATCH_WAIT_MS")

    @model_validator(mode="before")
    @classmethod
    def _ollama_when_configured(cls, data: Any) -> Any:
        """With OLLAMA_URL, embeddings and answers come from Ollama unless EMBEDDER or ANSWERER say otherwise."""
        if not isinstance(data, dict) or not (data.get("OLLAMA_URL") or data.get("ollama_url")):
            return data
        unset = {name: "ollama" for name in ("embedder", "answerer") if name not in data and name.upper() not in data}
        return {**data, **unset}

    @model_validator(mode="after")
    def _ollama_needs_its_url(self) -> Self:
        for name, choice in (("EMBEDDER", self.embedder), ("ANSWERER", self.answerer)):
            if choice == "ollama" and not self.ollama_url:
                raise ValueError(f"{name}=ollama needs OLLAMA_URL")
        return self
