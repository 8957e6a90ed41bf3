"""The agent: runs on one device, builds pruned variants, measures them, writes results."""
