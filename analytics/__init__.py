"""Analytics: detectors, tracking, zones, rules, events and the event → incident builder."""
