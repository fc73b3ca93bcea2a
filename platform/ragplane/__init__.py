"""ragplane: observability-first RAG services (search and Q&A over document collections)."""

__version__ = "0.1.0"
