"""portsip-im: PortSIP's "Scaling IM Server On-Premise for High Availability" in Pulumi."""
