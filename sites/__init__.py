"""The sites layer: one isolated tenancy per Magento store."""
