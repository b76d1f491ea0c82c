"""Video ingest: sources (RTSP, files), decoding, reconnect supervision, camera health, frame sampling.

Knows nothing of detection: it turns a camera's stream into `VideoFrame`s and `CameraHealth` changes.
"""
