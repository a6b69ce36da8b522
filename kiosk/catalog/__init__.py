"""The service catalogue (事项目录): versioned data, shipped default, replaced by signed updates."""
