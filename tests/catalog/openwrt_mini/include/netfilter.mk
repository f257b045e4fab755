# Test tree: module lists keyed by kernel symbols, in the style of OpenWrt's nf_add.
# 1: list name, 2: kernel symbol, 3: module paths below net/, 4: optional "<op> <x.y>" gate
define add_module
 KCONFIG_$(1) := $(filter-out $(2),$(KCONFIG_$(1))) $(2)
 $(if $(4),ifeq ($$(call CompareKernelPatchVer,$$(KERNEL_PATCHVER),$(word 1,$(4)),$(word 2,$(4))),1))
 $(1)-$$($(2)) += $(3)
 $(if $(4),endif)
endef

$(eval $(call add_module,CT,CONFIG_NF_CONNTRACK,netfilter/nf_conntrack))
$(eval $(call add_module,CT,CONFIG_NF_DEFRAG_IPV6,ipv6/netfilter/nf_defrag_ipv6))
$(eval $(call add_module,CORE,CONFIG_NF_TABLES,netfilter/nf_tables))
$(eval $(call add_module,CORE,CONFIG_NFT_REJECT,netfilter/nft_reject ipv4/netfilter/nft_reject_ipv4))
$(eval $(call add_module,CORE,CONFIG_NFT_COUNTER,netfilter/nft_counter))
$(eval $(call add_module,LOG,CONFIG_NF_LOG_COMMON,netfilter/nf_log_common,lt 5.13))
$(eval $(call add_module,LOG,CONFIG_NF_LOG_SYSLOG,netfilter/nf_log_syslog,ge 5.13))
