"""The FastAPI application: REST, websocket push, the console script."""
