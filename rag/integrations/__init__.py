"""Adapters that let other frameworks use Văn Kiện (LangChain: `rag.integrations.langchain`)."""
