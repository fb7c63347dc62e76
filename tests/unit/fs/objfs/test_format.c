/* The objfs on-disk codecs and the sanity checks applied to decoded values. */
#include "fs/objfs/format.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

Test(objfs_format, sizes_and_offsets)
{
	cr_expect_eq(sizeof(struct objfs_disk_bp), 48);
	cr_expect_eq(sizeof(struct objfs_disk_dnode), 128);
	cr_expect_eq(sizeof(struct objfs_disk_header), 256);
	cr_expect_eq(sizeof(struct objfs_disk_uber), 256);
	cr_expect_eq(sizeof(struct objfs_disk_dirent), 16);
	cr_expect_eq(OBJFS_DATA_START, 1280);
	cr_expect_eq(OBJFS_DIRENT_SIZE(1), 24);
	cr_expect_eq(OBJFS_DIRENT_SIZE(8), 24);
	cr_expect_eq(OBJFS_DIRENT_SIZE(9), 32);
}

Test(objfs_format, bp_roundtrip_is_little_endian)
{
	struct objfs_bp a = {.offset = 0x0102030405060708ull,
			     .lsize = 0x11223344,
			     .psize = 7,
			     .comp = OBJFS_COMP_LZ4,
			     .type = OBJFS_BT_DATA,
			     .level = 2,
			     .birth = 9};
	for (int i = 0; i < OBJFS_CKSUM_LEN; i++)
		a.cksum[i] = (uint8_t)i;
	struct objfs_disk_bp d;
	objfs_bp_encode(&a, &d);
	const uint8_t *raw = (const uint8_t *)&d;
	cr_expect_eq(raw[0], 0x08);
	cr_expect_eq(raw[7], 0x01);
	cr_expect_eq(raw[8], 0x44);
	cr_expect_eq(raw[11], 0x11);
	cr_expect_eq(raw[16], OBJFS_COMP_LZ4);
	cr_expect_eq(raw[32], 0);
	cr_expect_eq(raw[47], 15);
	struct objfs_bp b;
	objfs_bp_decode(&d, &b);
	cr_expect_eq(b.offset, a.offset);
	cr_expect_eq(b.lsize, a.lsize);
	cr_expect_eq(b.psize, a.psize);
	cr_expect_eq(b.comp, a.comp);
	cr_expect_eq(b.type, a.type);
	cr_expect_eq(b.level, a.level);
	cr_expect_eq(b.flags, a.flags);
	cr_expect_eq(b.birth, a.birth);
	cr_expect(memcmp(a.cksum, b.cksum, OBJFS_CKSUM_LEN) == 0);
}

Test(objfs_format, dnode_roundtrip)
{
	struct objfs_dnode a = {.type = OBJFS_OT_FILE,
				.nlevels = 2,
				.rs_shift = 12,
				.mode = 0644,
				.size = 4096 * 100,
				.mtime_sec = -5,
				.mtime_nsec = 999999999};
	a.root.level = 1;
	a.root.offset = 1280;
	struct objfs_disk_dnode d;
	objfs_dnode_encode(&a, &d);
	struct objfs_dnode b;
	objfs_dnode_decode(&d, 0, &b);
	cr_expect_eq(b.type, a.type);
	cr_expect_eq(b.nlevels, a.nlevels);
	cr_expect_eq(b.rs_shift, a.rs_shift);
	cr_expect_eq(b.mode, a.mode);
	cr_expect_eq(b.size, a.size);
	cr_expect_eq(b.mtime_sec, -5);
	cr_expect_eq(b.mtime_nsec, a.mtime_nsec);
	cr_expect_eq(b.root.level, 1);
	cr_expect_eq(b.root.offset, 1280);
	const char *why = objfs_dnode_check(&b);
	cr_expect_null(why, "%s", why);
}

Test(objfs_format, header_decode_errors)
{
	struct objfs_header h = {.version = OBJFS_VERSION,
				 .guid = 42,
				 .image_size = 5000,
				 .uber_offset = OBJFS_UBER_OFFSET,
				 .uber_slots = OBJFS_UBER_SLOTS,
				 .uber_size = OBJFS_UBER_SIZE,
				 .data_start = OBJFS_DATA_START};
	struct objfs_disk_header d, x;
	struct objfs_header out;
	objfs_header_encode(&h, &d);
	cr_expect_eq(memcmp(d.magic, "VMSOBJFS", 8), 0);
	cr_assert_eq(objfs_header_decode(&d, &out), 0);
	cr_expect_eq(out.guid, 42);
	cr_expect_eq(out.image_size, 5000);
	x = d;
	x.magic[3] = 'x';
	cr_expect_eq(objfs_header_decode(&x, &out), -EINVAL);
	x = d;
	x.version = OBJFS_VERSION + 1;
	cr_expect_eq(objfs_header_decode(&x, &out), -ENOTSUP);
	x = d;
	((uint8_t *)&x)[30] ^= 1;
	cr_expect_eq(objfs_header_decode(&x, &out), -EBADMSG);
	x = d;
	x.cksum[15] ^= 1;
	cr_expect_eq(objfs_header_decode(&x, &out), -EBADMSG);
	/* A self-consistent header with another layout is not ours either. */
	h.uber_slots = 8;
	objfs_header_encode(&h, &x);
	cr_expect_eq(objfs_header_decode(&x, &out), -EBADMSG);
	h.uber_slots = OBJFS_UBER_SLOTS;
	h.image_size = 100;
	objfs_header_encode(&h, &x);
	cr_expect_eq(objfs_header_decode(&x, &out), -EBADMSG);
}

Test(objfs_format, uber_empty_torn_ok)
{
	struct objfs_disk_uber d;
	struct objfs_uber u = {.version = OBJFS_VERSION,
			       .slot = 2,
			       .generation = 7,
			       .guid = 1,
			       .nobjects = 3},
			  out;
	memset(&d, 0, sizeof(d));
	cr_expect_eq(objfs_uber_decode(&d, &out), -ENOENT);
	objfs_uber_encode(&u, &d);
	cr_assert_eq(objfs_uber_decode(&d, &out), 0);
	cr_expect_eq(out.generation, 7);
	cr_expect_eq(out.slot, 2);
	for (size_t i = 0; i < sizeof(d); i += 17) {
		struct objfs_disk_uber t = d;
		((uint8_t *)&t)[i] ^= 0x40;
		cr_expect_eq(objfs_uber_decode(&t, &out), -EBADMSG, "byte %zu", i);
	}
}

static struct objfs_bp
good_bp(void)
{
	struct objfs_bp bp = {.offset = 2000,
			      .lsize = 4096,
			      .psize = 4096,
			      .comp = OBJFS_COMP_OFF,
			      .type = OBJFS_BT_DATA};
	return bp;
}

Test(objfs_format, bp_check_rejects_what_a_forged_image_could_say)
{
	struct objfs_bp bp = good_bp();
	const uint64_t ds = OBJFS_DATA_START, sz = 10000;
	cr_expect_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz));
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DIR, 0, 4096, ds, sz), "type");
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 1, 4096, ds, sz), "level");
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 100, ds, sz), "lsize");
	bp.offset = 9000;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "past the end");
	bp.offset = UINT64_MAX - 10;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "wraps");
	bp.offset = 100;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "in the header");
	bp = good_bp();
	bp.psize = 4000;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "raw psize");
	bp.comp = OBJFS_COMP_LZ4;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "saves < 1/8");
	bp.psize = 3584;
	cr_expect_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz));
	bp.comp = 9;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "comp");
	bp = good_bp();
	bp.flags = OBJFS_BPF_HOLE;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "hole+storage");
	bp.offset = 0;
	bp.psize = 0;
	cr_expect_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz));
	bp.flags = 0x80;
	cr_expect_not_null(objfs_bp_check(&bp, OBJFS_BT_DATA, 0, 4096, ds, sz), "flags");
}

Test(objfs_format, dnode_check_rejects_nonsense)
{
	struct objfs_dnode dn = {
	    .type = OBJFS_OT_FILE, .nlevels = 1, .rs_shift = 12, .size = 4096, .mode = 0644};
	cr_expect_null(objfs_dnode_check(&dn));
	struct objfs_dnode x = dn;
	x.size = 4097; /* two records need an indirect level */
	cr_expect_not_null(objfs_dnode_check(&x));
	x.nlevels = 2;
	cr_expect_null(objfs_dnode_check(&x));
	x = dn;
	x.nlevels = 2; /* one record under an indirect: deeper than needed */
	cr_expect_not_null(objfs_dnode_check(&x));
	x = dn;
	x.rs_shift = 11;
	cr_expect_not_null(objfs_dnode_check(&x));
	x.rs_shift = 21;
	cr_expect_not_null(objfs_dnode_check(&x));
	x = dn;
	x.nlevels = OBJFS_MAX_LEVELS + 1;
	cr_expect_not_null(objfs_dnode_check(&x));
	x = dn;
	x.type = 9;
	cr_expect_not_null(objfs_dnode_check(&x));
	x = dn;
	x.mode = 0100644;
	cr_expect_not_null(objfs_dnode_check(&x));
	x = dn;
	x.type = OBJFS_OT_DIR;
	cr_expect_not_null(objfs_dnode_check(&x), "directories use 16K records");
	x.rs_shift = OBJFS_META_RS_SHIFT;
	cr_expect_null(objfs_dnode_check(&x));
	x.size = OBJFS_DIR_MAX + 1ull;
	cr_expect_not_null(objfs_dnode_check(&x));
	x = dn;
	x.size = UINT64_MAX;
	cr_expect_not_null(objfs_dnode_check(&x));
	x = dn;
	x.nentries = 3;
	cr_expect_not_null(objfs_dnode_check(&x));
}

Test(objfs_format, name_order_is_bytewise_prefix_first)
{
	cr_expect_lt(objfs_name_cmp("a", 1, "b", 1), 0);
	cr_expect_lt(objfs_name_cmp("a", 1, "ab", 2), 0);
	cr_expect_gt(objfs_name_cmp("\xc3", 1, "z", 1), 0, "unsigned bytes");
	cr_expect_eq(objfs_name_cmp("abc", 3, "abc", 3), 0);
}

Test(objfs_format, cksum_is_xxh3_128_of_the_bytes)
{
	uint8_t a[OBJFS_CKSUM_LEN], b[OBJFS_CKSUM_LEN];
	objfs_cksum("hello", 5, a);
	objfs_cksum("hellp", 5, b);
	cr_expect_not(objfs_cksum_equal(a, b));
	objfs_cksum("hello", 5, b);
	cr_expect(objfs_cksum_equal(a, b));
}
