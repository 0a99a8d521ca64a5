//! A local HubSpot tickets batch-upsert emulator (work in progress).
