"""portsip-im-guardrails: the CrossGuard policy pack of this project (see PulumiPolicy.yaml)."""
