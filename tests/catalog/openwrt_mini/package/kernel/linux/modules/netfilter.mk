NF_MENU:=Netfilter Extensions
include $(INCLUDE_DIR)/netfilter.mk

define KernelPackage/nf-conntrack
  SUBMENU:=$(NF_MENU)
  TITLE:=Netfilter connection tracking
  KCONFIG:=CONFIG_NETFILTER=y $(KCONFIG_CT)
  FILES:=$(foreach m,$(CT-m),$(LINUX_DIR)/net/$(m).ko)
  AUTOLOAD:=$(call AutoProbe,$(notdir $(CT-m)))
endef
$(eval $(call KernelPackage,nf-conntrack))

define KernelPackage/nf-log
  SUBMENU:=$(NF_MENU)
  TITLE:=Netfilter Logging
  KCONFIG:=$(KCONFIG_LOG)
  FILES:=$(foreach m,$(LOG-m),$(LINUX_DIR)/net/$(m).ko)
  AUTOLOAD:=$(call AutoProbe,$(notdir $(LOG-m)))
endef
$(eval $(call KernelPackage,nf-log))

define KernelPackage/nft-core
  SUBMENU:=$(NF_MENU)
  TITLE:=Netfilter nf_tables support
  DEPENDS:=+kmod-nf-conntrack +IPV6:kmod-nf-log +!IPV6:kmod-crypto-hash
  KCONFIG:=CONFIG_NFT_COMPAT=n $(KCONFIG_CORE)
  FILES:=$(foreach m,$(CORE-m),$(LINUX_DIR)/net/$(m).ko)
  AUTOLOAD:=$(call AutoProbe,$(notdir $(CORE-m)))
endef

define KernelPackage/nft-core/description
 Kernel module support for nftables
 (test tree)
endef
$(eval $(call KernelPackage,nft-core))

define KernelPackage/nf-flow
  SUBMENU:=$(NF_MENU)
  TITLE:=Netfilter flowtable support
  DEPENDS:=+kmod-nf-conntrack $(if $(call kernel_patchver_ge,6.1),+kmod-nft-core)
  KCONFIG:=CONFIG_NETFILTER_INGRESS=y CONFIG_NF_FLOW_TABLE
  FILES:=$(LINUX_DIR)/net/netfilter/nf_flow_table.ko
  AUTOLOAD:=$(call AutoProbe,nf_flow_table)
endef
$(eval $(call KernelPackage,nf-flow))

define KernelPackage/nft-offload
  SUBMENU:=$(NF_MENU)
  TITLE:=Netfilter nf_tables routing/NAT offload support
  DEPENDS:=@IPV6 +kmod-nf-flow +kmod-nft-core
  KCONFIG:= \
	CONFIG_NF_FLOW_TABLE_INET \
	CONFIG_NF_FLOW_TABLE_IPV4@lt5.17 \
	CONFIG_NFT_FLOW_OFFLOAD
  FILES:= \
	$(LINUX_DIR)/net/netfilter/nf_flow_table_inet.ko \
	$(LINUX_DIR)/net/ipv4/netfilter/nf_flow_table_ipv4.ko@lt5.17 \
	$(LINUX_DIR)/net/netfilter/nft_flow_offload.ko
  AUTOLOAD:=$(call AutoProbe,nf_flow_table_inet nf_flow_table_ipv4@lt5.17 nft_flow_offload)
endef
$(eval $(call KernelPackage,nft-offload))
