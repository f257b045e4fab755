# Test tree: the full kernel version for KERNEL_PATCHVER, from include/kernel-<patchver>.
include $(INCLUDE_DIR)/kernel-$(KERNEL_PATCHVER)
LINUX_VERSION := $(KERNEL_PATCHVER)$(strip $(LINUX_VERSION-$(KERNEL_PATCHVER)))
version_words = $(subst ., ,$(1))
