"""Built-in extensions: each directory holds an `extension.json` and the module it names."""
