"""Operations shared by every front door (REST API, MCP server, CLI): one implementation each."""
