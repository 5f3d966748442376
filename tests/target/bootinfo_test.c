/* tests/target/bootinfo_test.c - suite "bootinfo": the multiboot memory map. */
#include "kernel/kernel.h"
#include "kernel/memory.h"
#include "lib/format.h"
#include "tests/ktest.h"

static uint8_t map_buf[256];
static uint32_t map_len;

static void add_entry(uint32_t size, uint64_t base, uint64_t length, uint32_t type)
{
	struct multiboot_mmap_entry e = { size, base, length, type };
	__builtin_memcpy(map_buf + map_len, &e, sizeof(e));
	map_len += size + 4;
}

static void sorted_and_zero_length_dropped(struct ktest *t)
{
	struct mem_region r[8];
	map_len = 0;
	add_entry(20, 0x100000, 0x700000, MULTIBOOT_MEMORY_AVAILABLE);
	add_entry(20, 0x0, 0x9fc00, MULTIBOOT_MEMORY_AVAILABLE);
	add_entry(20, 0x500000, 0, MULTIBOOT_MEMORY_RESERVED);
	add_entry(20, 0xfffc0000, 0x40000, MULTIBOOT_MEMORY_RESERVED);
	ASSERT_EQ(t, mmap_parse(map_buf, map_len, r, 8), 3);
	EXPECT_EQ(t, r[0].base, 0);
	EXPECT_EQ(t, r[1].base, 0x100000);
	EXPECT_EQ(t, r[1].length, 0x700000);
	EXPECT_EQ(t, r[2].type, MULTIBOOT_MEMORY_RESERVED);
}

static void larger_entry_size_is_honoured(struct ktest *t)
{
	struct mem_region r[4];
	map_len = 0;
	add_entry(28, 0x0, 0x1000, MULTIBOOT_MEMORY_AVAILABLE); /* 8 bytes of padding */
	add_entry(20, 0x2000, 0x1000, MULTIBOOT_MEMORY_NVS);
	ASSERT_EQ(t, mmap_parse(map_buf, map_len, r, 4), 2);
	EXPECT_EQ(t, r[1].base, 0x2000);
	EXPECT_EQ(t, r[1].type, MULTIBOOT_MEMORY_NVS);
}

static void truncated_or_short_entries_rejected(struct ktest *t)
{
	struct mem_region r[4];
	map_len = 0;
	add_entry(20, 0x0, 0x1000, MULTIBOOT_MEMORY_AVAILABLE);
	EXPECT_EQ(t, mmap_parse(map_buf, map_len - 1, r, 4), -1);
	map_len = 0;
	add_entry(12, 0x0, 0x1000, MULTIBOOT_MEMORY_AVAILABLE);
	EXPECT_EQ(t, mmap_parse(map_buf, 24, r, 4), -1);
}

static void more_entries_than_room(struct ktest *t)
{
	struct mem_region r[2];
	map_len = 0;
	for (int i = 0; i < 4; i++)
		add_entry(20, (uint64_t)i << 20, 0x1000, MULTIBOOT_MEMORY_AVAILABLE);
	EXPECT_EQ(t, mmap_parse(map_buf, map_len, r, 2), 2);
	EXPECT_EQ(t, r[1].base, 1 << 20);
}

/* RAM above 4 GiB is counted apart: a region that straddles 4 GiB is split. */
static void ram_above_4_gib_is_counted_apart(struct ktest *t)
{
	static struct bootinfo info;
	info = (struct bootinfo){ .region_count = 4 };
	info.regions[0] = (struct mem_region){ 0x100000, 0xdff00000, MULTIBOOT_MEMORY_AVAILABLE };
	info.regions[1] = (struct mem_region){ 0xe0000000, 0x10000000, MULTIBOOT_MEMORY_RESERVED };
	info.regions[2] = (struct mem_region){ 0xf0000000, 0x20000000, MULTIBOOT_MEMORY_AVAILABLE };
	info.regions[3] =
	        (struct mem_region){ 0x200000000ull, 0x40000000, MULTIBOOT_MEMORY_AVAILABLE };
	bootinfo_count_usable(&info);
	EXPECT_EQ(t, info.usable_bytes, 0xdff00000ull + 0x10000000ull);
	EXPECT_EQ(t, info.above_4g_bytes, 0x10000000ull + 0x40000000ull);
}

static void missing_memory_map_is_named(struct ktest *t)
{
	struct multiboot_info mbi = { .flags = MULTIBOOT_INFO_MEMORY };
	struct bootinfo info = { 0 };
	EXPECT_EQ(t, bootinfo_parse(MULTIBOOT_BOOTLOADER_MAGIC, &mbi, &info),
	          BOOTINFO_NO_MEMORY_MAP);
	EXPECT_STREQ(t, bootinfo_error_message(BOOTINFO_NO_MEMORY_MAP),
	             "the bootloader passed no memory map (multiboot flags bit 6 clear)");
	EXPECT_EQ(t, bootinfo_parse(0x12345678, &mbi, &info), BOOTINFO_BAD_MAGIC);
}

/* 3,000 bytes of "seed=N" words: the line is cut at a word boundary, so
 * that its last word is whole (seed=60 never becomes seed=6). */
static void long_command_line_is_cut_between_words(struct ktest *t)
{
	static char line[3000];
	unsigned n = 0, word = 0;
	while (n + 12 < sizeof(line)) {
		n += ksnprintf(line + n, sizeof(line) - n, "seed=%u ", word);
		word++;
	}
	line[n] = '\0';
	struct multiboot_info mbi = { .flags = MULTIBOOT_INFO_CMDLINE,
		                      .cmdline = (uint32_t)(uintptr_t)line };
	static struct bootinfo info;
	info = (struct bootinfo){ 0 };
	EXPECT_EQ(t, bootinfo_parse(MULTIBOOT_BOOTLOADER_MAGIC, &mbi, &info),
	          BOOTINFO_NO_MEMORY_MAP);
	size_t len = 0;
	while (info.cmdline[len])
		len++;
	ASSERT_GE(t, len, BOOTINFO_CMDLINE_MAX - 16);
	ASSERT_LE(t, len, BOOTINFO_CMDLINE_MAX - 1);
	/* What was kept is exactly a prefix of the line that ends where a
	 * word ends. */
	for (size_t i = 0; i < len; i++)
		ASSERT_EQ(t, info.cmdline[i], line[i]);
	EXPECT_TRUE(t, line[len] == ' ' || info.cmdline[len - 1] == ' ');
}

static void boot_map_has_usable_ram(struct ktest *t)
{
	ASSERT_GE(t, boot_info.region_count, 1);
	EXPECT_GE(t, boot_info.usable_bytes, MEMORY_MIN_USABLE); /* or the boot stops */
	for (unsigned i = 1; i < boot_info.region_count; i++)
		EXPECT_LE(t, boot_info.regions[i - 1].base, boot_info.regions[i].base);
	/* The loader's own data is recorded so that no allocator hands it out. */
	EXPECT_GE(t, boot_info.loader_data_count, 2);
}

static const struct ktest_case bootinfo_cases[] = {
	KTEST_CASE(sorted_and_zero_length_dropped),
	KTEST_CASE(larger_entry_size_is_honoured),
	KTEST_CASE(truncated_or_short_entries_rejected),
	KTEST_CASE(more_entries_than_room),
	KTEST_CASE(missing_memory_map_is_named),
	KTEST_CASE(boot_map_has_usable_ram),
	KTEST_CASE(long_command_line_is_cut_between_words),
	KTEST_CASE(ram_above_4_gib_is_counted_apart),
};
KTEST_SUITE(bootinfo, bootinfo_cases, NULL, NULL);
