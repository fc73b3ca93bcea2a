"""What services talk to: embedders, the Qdrant vector store, answerers (LLMs)."""
