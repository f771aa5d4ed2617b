//! The envv terminal dashboard. It talks only to the agent.
