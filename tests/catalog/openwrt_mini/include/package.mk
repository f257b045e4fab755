include $(INCLUDE_DIR)/package-defaults.mk
