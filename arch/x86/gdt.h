#ifndef UMBRA_ARCH_X86_GDT_H
#define UMBRA_ARCH_X86_GDT_H

struct cpu;
/* Builds and loads this CPU's GDT and TSS (with IST stacks for #DF/NMI/#MC). */
void gdt_init_cpu(struct cpu *c);

#endif
