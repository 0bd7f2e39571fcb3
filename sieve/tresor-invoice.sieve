require ["fileinto", "mailbox", "variables", "imap4flags", "vnd.tresor.invoice"];
if invoice {
  addflag "$tresor_${invoice.verdict}";
  if string :is "${invoice.verdict}" "trusted" {
    fileinto :create "Rechnungen${invoice.separator}${invoice.folder}";
  } else {
    addflag "$Pruefen";
    fileinto :create "Rechnungen${invoice.separator}Pruefen";
  }
  stop;
}
