"""The query service: semantic search and question answering over a collection."""
