"""Cloud providers (Alibaba Cloud ECS, Tencent Cloud CVM) behind ``domain.cloud``'s interface.

The SDKs are blocking: everything here runs in a thread, never on the UI's event loop."""
