"""gdb helpers for arena386 (make debug loads them; "help arena386" lists them).

  arena      the arena: [start, used) handed out, reserved to end, its limit,
             its reservations, bytes mapped and released
  vmmap      the address space: runs of 4 MiB slots by owner, pages mapped
  heap       kmalloc's size classes: spans, objects out, cached per CPU
  span ADDR  which span, class and object an address belongs to, and whether
             that object is live, free in its span, or cached on a CPU's list
  cpus       the CPUs online: APIC id, frames and objects in their caches

They read the kernel's own structures through its symbols (a kernel built
with -g, as make builds it) and change nothing: stop the kernel anywhere
after kmalloc_init.
"""
import gdb

PAGE = 4096
SLOT = 4 << 20
SPAN_FREE, SPAN_IN_USE = 1, 2  # enum span_state (mm/pageheap.h)
SPAN_STATES = {SPAN_FREE: "free", SPAN_IN_USE: "in use"}


def value(expr):
    return gdb.parse_and_eval(expr)


def num(expr):
    return int(value(expr))


def owner_name(owner):
    try:
        return value(f"owner_names[{owner}]").string()
    except gdb.error:
        return str(owner)


def cpus_online():
    return num("ipi_cpus_online")


def class_count():
    return num("class_count")


def cached_on(cpu, cls):
    """Objects on CPU cpu's list of class cls (top - bottom)."""
    lists = value(f"(struct kmalloc_cpu *)percpu_areas[{cpu}].mm")
    stack = lists["lists"][cls]["stack"]
    if int(value("cpus_with_lists")) & (1 << cpu) == 0:
        return 0
    return (int(stack["top"]) - int(stack["bottom"])) // 4


class Arena386(gdb.Command):
    """arena386's helpers: arena, vmmap, heap, span ADDR, cpus."""

    def __init__(self):
        super().__init__("arena386", gdb.COMMAND_USER, prefix=True)


class ArenaCommand(gdb.Command):
    """The kernel heap's arena: its range, reservations, mapped and released bytes."""

    def __init__(self):
        super().__init__("arena", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        a = value("kernel_pageheap.arena")
        start, used, end, limit = (int(a[f]) for f in ("start", "used", "end", "limit"))
        st = a["stats"]
        print(f"arena: [{start:#x}, {used:#x}) handed out, reserved to {end:#x}, "
              f"limit {start + limit:#x} ({limit >> 20} MiB)")
        print(f"arena: {int(st['mapped_bytes']) >> 10} KiB mapped, "
              f"{int(st['released_bytes']) >> 10} KiB released, "
              f"{int(st['reserved_bytes']) >> 10} KiB reserved; "
              f"{int(st['extensions'])} extensions, {int(st['fallbacks'])} fallbacks")
        for i in range(int(a["range_count"])):
            r = a["ranges"][i]
            base, size = int(r["base"]), int(r["size"])
            print(f"  reservation {i}: [{base:#x}, {base + size:#x}) {size >> 20} MiB")


class VmmapCommand(gdb.Command):
    """The address space: runs of 4 MiB slots by owner, with pages mapped."""

    def __init__(self):
        super().__init__("vmmap", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        vm = value("vm")
        slots = 1024
        print("  start       end         owner            mapped KiB")
        i = 0
        while i < slots:
            owner = int(vm["slot_owner"][i])
            j, mapped = i, 0
            while j < slots and int(vm["slot_owner"][j]) == owner:
                mapped += int(vm["slot_mapped"][j])
                j += 1
            if owner:
                print(f"  {i * SLOT:#010x}  {j * SLOT:#011x}  {owner_name(owner):16s} "
                      f"{mapped * PAGE >> 10}")
            i = j


class HeapCommand(gdb.Command):
    """kmalloc's size classes: spans, objects handed out, cached on each CPU."""

    def __init__(self):
        super().__init__("heap", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        cpus = cpus_online()
        print(f"heap: {class_count()} classes, {cpus} CPUs")
        print("  class  spans      out  cached per cpu")
        for cls in range(1, class_count() + 1):
            spans = num(f"central[{cls}].spans")
            if not spans:
                continue
            cached = [cached_on(cpu, cls) for cpu in range(cpus)]
            print(f"  {num(f'classes[{cls}].size'):5d} {spans:6d} "
                  f"{num(f'central[{cls}].out'):8d}  {' '.join(str(c) for c in cached)}")


class SpanCommand(gdb.Command):
    """span ADDR: the span, class and object of an address, and its state."""

    def __init__(self):
        super().__init__("span", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("span: usage: span ADDR")
        addr = int(value(arg))
        a = value("kernel_pageheap.arena")
        start, used = int(a["start"]), int(a["used"])
        if not start <= addr < used:
            print(f"span: {addr:#x} is not in the arena's [{start:#x}, {used:#x})")
            return
        page = (addr - start) // PAGE
        s = a["pages"][page]["span"]
        # A large or free span names only its first and last pages: look back.
        back = page
        while int(s) == 0 and back > 0 and page - back < 65536:
            back -= 1
            s = a["pages"][back]["span"]
        if int(s) == 0 or not (int(s["start"]) <= addr <
                               int(s["start"]) + int(s["npages"]) * PAGE):
            print(f"span: {addr:#x} lies in no span (a hole: address space never handed out)")
            return
        s = s.dereference()
        sstart, npages, state = int(s["start"]), int(s["npages"]), int(s["state"])
        print(f"span: {addr:#x} is in span [{sstart:#x}, {sstart + npages * PAGE:#x}) "
              f"({npages} pages), {SPAN_STATES.get(state, state)}")
        cls = int(s["small"]["size_class"])
        if state != SPAN_IN_USE:
            return
        if cls == 0:
            print(f"span: a large block at {sstart:#x}, offset {addr - sstart}")
            return
        size = num(f"classes[{cls}].size")
        index, offset = divmod(addr - sstart, size)
        obj = sstart + index * size
        bit = (obj - start) // 8
        live = (int(a["live_bits"][bit // 32]) >> (bit % 32)) & 1
        where = "live (held by a caller)" if live else "free"
        if not live:
            for cpu in range(cpus_online()):
                stack = value(f"((struct kmalloc_cpu *)percpu_areas[{cpu}].mm)->lists[{cls}].stack")
                bottom, top = int(stack["bottom"]), int(stack["top"])
                slots = [int(value(f"((void **){bottom:#x})[{i}]"))
                         for i in range((top - bottom) // 4)]
                if obj in slots:
                    where = f"free, cached on CPU {cpu}'s list"
            if index >= int(s["small"]["carved"]):
                where = "free, not yet carved"
        print(f"span: class {size} bytes, object {index} at {obj:#x} (offset {offset}): {where}")


class CpusCommand(gdb.Command):
    """The CPUs online, and what each holds in its caches."""

    def __init__(self):
        super().__init__("cpus", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        cpus = cpus_online()
        print(f"cpus: {cpus} online")
        for cpu in range(cpus):
            objects = sum(cached_on(cpu, cls) for cls in range(1, class_count() + 1))
            nbytes = sum(cached_on(cpu, cls) * num(f"classes[{cls}].size")
                         for cls in range(1, class_count() + 1))
            print(f"  cpu {cpu} (APIC id {num(f'percpu_areas[{cpu}].apic_id')}): "
                  f"{num(f'kernel_pmm.cache[{cpu}].count')} frames cached, {objects} free "
                  f"objects on its lists ({nbytes >> 10} KiB)")


Arena386()
ArenaCommand()
VmmapCommand()
HeapCommand()
SpanCommand()
CpusCommand()
