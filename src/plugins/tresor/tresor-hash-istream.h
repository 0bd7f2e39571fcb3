#ifndef TRESOR_HASH_ISTREAM_H
#define TRESOR_HASH_ISTREAM_H

struct hash_method;

/* Passes input through and hands each byte, the first time it is read, to
   method->loop(hash_context). Dovecot's istream-hash does the same but
   fails every seek, and the stores seek the stream they save from (cache
   parsing, tee and header-filter streams): this one lets them seek back
   and read again, hashing nothing twice. */
struct istream *
tresor_hash_istream_create(struct istream *input,
			   const struct hash_method *method,
			   void *hash_context);

/* Whether every byte from the start to the end of input was hashed: the
   end was read, and no seek skipped bytes that were never read. After
   the end, hash_context is no longer touched. */
bool tresor_hash_istream_is_complete(struct istream *stream);

/* Stops handing bytes to hash_context, which its owner is about to free,
   while the store may still hold (and read) the stream. */
void tresor_hash_istream_detach(struct istream *stream);

#endif
