/**
 * A tar archive of small text files, enough for Docker's putArchive (which only takes tar): how a file
 * such as /etc/ld.so.preload is placed in a container before it starts.
 */
export function tarOf(files: Record<string, string>): Buffer {
  const blocks: Buffer[] = [];
  for (const [path, text] of Object.entries(files)) {
    const body = Buffer.from(text, 'utf8');
    const header = Buffer.alloc(512);
    header.write(path, 0, 100, 'utf8');
    header.write('0000644\0', 100); // mode
    header.write('0000000\0', 108); // uid
    header.write('0000000\0', 116); // gid
    header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124); // size
    header.write(
      `${Math.floor(Date.now() / 1000)
        .toString(8)
        .padStart(11, '0')}\0`,
      136,
    ); // mtime
    header.write('        ', 148); // checksum, counted as spaces
    header.write('0', 156); // a regular file
    header.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
