"""The Q&A evaluation: questions about the demo corpus with known answers (`make eval`)."""
