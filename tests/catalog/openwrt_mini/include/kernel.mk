# Test tree: kernel package helpers with OpenWrt's observable behaviour.

# "major minor" of a version as one comparable number (minor < 1000)
version_number = $(shell echo $$(( $(word 1,$(call version_words,$(1))) * 1000 + $(word 2,$(call version_words,$(1))) )))

# 1: version, 2: lt|le|gt|ge|eq|ne, 3: version -> 1 or 0
CompareKernelPatchVer = $(shell [ $(call version_number,$(1)) -$(2) $(call version_number,$(3)) ] && echo 1 || echo 0)
kernel_patchver_ge = $(filter 1,$(call CompareKernelPatchVer,$(KERNEL_PATCHVER),ge,$(1)))

# the shell word list kernel.mk's install step reads: priority, boot flag, modules
AutoLoad = $(if $(1),$(1),0) $(if $(3),1,0) $(2)
AutoProbe = $(call AutoLoad,,$(1),$(2))

define KernelPackage/Defaults
  FILES:=
  AUTOLOAD:=
  MODPARAMS:=
endef

# A real build would turn the package into an ipk here; the import driver replaces this.
define KernelPackage
  $$(error KernelPackage $(1) evaluated outside kmodkit's import driver)
endef
