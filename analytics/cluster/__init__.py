"""The cluster deployment (DESIGN.md "Beyond one box"): camera pipelines placed on Ray nodes.

One `CameraHost` actor per node (host.py) runs that node's cameras with its models loaded once; the
`PlacementController` (placement.py), a named detached actor, decides which node serves which camera and moves
cameras when a node is lost or added. The pipelines themselves are the single-process ones (AnalyticsService)."""

NAMESPACE = "xueliang"
CONTROLLER_NAME = "xueliang-placement"
