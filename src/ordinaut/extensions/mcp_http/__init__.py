"""The MCP server extension: AI assistants schedule work over the Model Context Protocol."""
