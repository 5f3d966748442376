/* arch/i386/jmp.S - cpu_setjmp / cpu_longjmp (see jmp.h). */
	.text
	.global cpu_setjmp
	.type cpu_setjmp, @function
cpu_setjmp:
	movl 4(%esp), %eax            /* buf */
	movl %ebx, 0(%eax)
	movl %esi, 4(%eax)
	movl %edi, 8(%eax)
	movl %ebp, 12(%eax)
	leal 4(%esp), %ecx            /* caller's %esp after our return */
	movl %ecx, 16(%eax)
	movl (%esp), %ecx             /* return address */
	movl %ecx, 20(%eax)
	pushfl
	popl 24(%eax)
	xorl %eax, %eax
	ret
	.size cpu_setjmp, . - cpu_setjmp

	.global cpu_longjmp
	.type cpu_longjmp, @function
cpu_longjmp:
	movl 4(%esp), %edx            /* buf */
	movl 8(%esp), %eax            /* value; 0 becomes 1 */
	testl %eax, %eax
	jnz 1f
	incl %eax
1:	movl 0(%edx), %ebx
	movl 4(%edx), %esi
	movl 8(%edx), %edi
	movl 12(%edx), %ebp
	movl 16(%edx), %esp
	pushl 24(%edx)
	popfl
	jmp *20(%edx)
	.size cpu_longjmp, . - cpu_longjmp
